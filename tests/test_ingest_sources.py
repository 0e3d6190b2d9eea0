"""Datasets as folders and object-store prefixes, not only zips: the same examples, splits, skipped files and
errors as the same images zipped; the fingerprint that keys ingestion's cache; where workers read from."""

import os
import re
import zipfile

import imagegen
import pytest
from fake_object_store import PREFIX, FakeObjectStore
from ingest_runs import examples_of, report_of, run_ingestion, write_folder
from layouts import read_layout
from ml_metadata.proto import metadata_store_pb2
from tfx import v1 as tfx

from components import limits
from components.ingest import executor, sources, staging
from components.ingest.component import ImageExampleGen
from components.ingest.errors import DatasetError
from pipeline import local_runner
from pipeline.pipeline import create_pipeline
from pipeline.settings import LocalRunSettings

CORRUPT = b"\xff\xd8\xff\xe0 not really a jpeg"


def _split_folders() -> dict:
    files = imagegen.class_folder_files(3, prefix="pets/train/", formats=("jpg", "png"))
    files.update(imagegen.class_folder_files(2, prefix="pets/validation/", seed=50))
    files.update(
        {
            "pets/train/cats/corrupt.jpg": CORRUPT,
            "pets/train/loose.jpg": imagegen.image_bytes(0),
            "pets/README.txt": b"notes",
            "pets/train/dogs/.DS_Store": b"\0",
        }
    )
    return files


def _class_folders() -> dict:
    files = imagegen.class_folder_files(10, formats=("jpg", "gif"))
    files.update(
        {
            "dogs/corrupt.jpg": CORRUPT,
            "loose.png": imagegen.image_bytes(1, fmt="png"),
            "__MACOSX/cats/._cats.0.jpg": b"\0",
        }
    )
    return files


def _comparable(examples) -> tuple:
    report = report_of(examples)
    return examples_of(examples), report["skipped"], report["counts"], report["split_by_hash"], report["class_names"]


@pytest.mark.parametrize(
    "files, images", [(_split_folders(), 10), (_class_folders(), 20)], ids=["split-folders", "class-folders-only"]
)
def test_a_folder_gives_the_examples_of_the_same_images_zipped(tmp_path, files, images):
    zipped = run_ingestion(tmp_path / "a", imagegen.write_zip(tmp_path / "data.zip", files))
    in_folder = run_ingestion(tmp_path / "b", write_folder(tmp_path / "data", files))

    assert _comparable(in_folder) == _comparable(zipped)
    found, skipped, _, _, _ = _comparable(in_folder)
    corrupt = next(name for name in files if files[name] == CORRUPT)
    assert corrupt in {s["file"] for s in skipped} and len(found) == images


@pytest.fixture
def object_store(tmp_path):
    FakeObjectStore.root = str(tmp_path / "store")
    return tmp_path / "store"


def test_an_object_store_prefix_is_read_where_it_is(tmp_path, object_store):
    files = _class_folders()
    write_folder(object_store / "bucket" / "pets", files)
    prefix = f"{PREFIX}bucket/pets/"
    source = sources.resolve(prefix)
    assert source == sources.Source(f"{PREFIX}bucket/pets", is_zip=False, shown_as=prefix) and not source.is_local
    assert staging.reachable(source, ["cats/cats.0.jpg"], str(tmp_path / "staged")) == (source, [])
    assert not (tmp_path / "staged").exists()  # nothing copied: workers read the prefix itself

    from_store = run_ingestion(tmp_path / "a", prefix)
    zipped = run_ingestion(tmp_path / "b", imagegen.write_zip(tmp_path / "data.zip", files))
    assert _comparable(from_store) == _comparable(zipped)


def test_an_object_store_zip_is_read_where_it_is(tmp_path, object_store):
    (object_store / "bucket").mkdir(parents=True)
    imagegen.write_zip(object_store / "bucket" / "pets.zip", _class_folders())
    source = sources.resolve(f"{PREFIX}bucket/pets.zip")
    assert source.is_zip and source.location == f"{PREFIX}bucket/pets.zip"
    with source.open() as reader:
        assert reader.read("cats/cats.3.gif") == _class_folders()["cats/cats.3.gif"]


def test_local_data_is_staged_under_the_given_folder(tmp_path):
    files = imagegen.class_folder_files(2)
    zipped = sources.resolve(imagegen.write_zip(tmp_path / "data.zip", files))
    staged, _ = staging.reachable(zipped, [], str(tmp_path / "out" / "zip"))
    assert staged.location == str(tmp_path / "out" / "zip" / "data.zip") and staged.name == zipped.name
    assert (tmp_path / "out" / "zip" / "data.zip").read_bytes() == (tmp_path / "data.zip").read_bytes()

    folder = sources.resolve(str(write_folder(tmp_path / "data", {**files, "cats/skipped.jpg": b"x"})))
    staged, failed = staging.reachable(
        folder, ["cats/cats.1.jpg", "dogs/dogs.0.jpg", "dogs/gone.jpg"], str(tmp_path / "out" / "folder")
    )
    assert staged.location == str(tmp_path / "out" / "folder") and not staged.is_zip
    assert [name for name, _ in failed] == ["dogs/gone.jpg"] and failed[0][1] == "no such file"
    assert sorted(f.name for f in staged.list_files().files) == ["cats/cats.1.jpg", "dogs/dogs.0.jpg"]
    with staged.open() as reader:
        assert reader.read("dogs/dogs.0.jpg") == files["dogs/dogs.0.jpg"]


# --- the fingerprint ------------------------------------------------------------------------------------


def test_the_fingerprint_changes_with_a_files_content_size_or_time(tmp_path):
    folder = write_folder(tmp_path / "data", imagegen.class_folder_files(2))
    image = folder / "cats" / "cats.0.jpg"
    original = image.read_bytes()
    stat = image.stat()

    def fingerprint():
        return sources.resolve(str(folder)).list_files().fingerprint()

    def restore():
        image.write_bytes(original)
        os.utime(image, ns=(stat.st_atime_ns, stat.st_mtime_ns))

    unchanged = fingerprint()
    assert fingerprint() == unchanged  # listed again
    (folder / ".DS_Store").write_bytes(b"\0")
    assert fingerprint() == unchanged  # litter is not data

    changes = {
        "other bytes, same size (a new time)": lambda: image.write_bytes(bytes(reversed(original))),
        "only the time": lambda: os.utime(image, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9)),
        "one byte more, the old time": lambda: (
            image.write_bytes(original + b"\0"),
            os.utime(image, ns=(stat.st_atime_ns, stat.st_mtime_ns)),
        ),
        "renamed": lambda: image.rename(folder / "cats" / "renamed.jpg"),
        "a file added": lambda: (folder / "dogs" / "new.jpg").write_bytes(original),
    }
    for change, make in changes.items():
        make()
        assert fingerprint() != unchanged, change
        for extra in (folder / "cats" / "renamed.jpg", folder / "dogs" / "new.jpg"):
            extra.unlink(missing_ok=True)
        restore()
        assert fingerprint() == unchanged, change


def test_a_zips_fingerprint_follows_its_members_not_its_file(tmp_path):
    files = imagegen.class_folder_files(2)
    first = sources.resolve(imagegen.write_zip(tmp_path / "a.zip", files)).list_files().fingerprint()
    again = sources.resolve(imagegen.write_zip(tmp_path / "b.zip", files)).list_files().fingerprint()
    files["cats/cats.0.jpg"] = imagegen.image_bytes(0, seed=7)
    changed = sources.resolve(imagegen.write_zip(tmp_path / "c.zip", files)).list_files().fingerprint()
    assert first == again != changed


def _ingest_cached(tmp_path, data) -> list:
    """ImageExampleGen alone under LocalDagRunner with caching, keyed as `catdog run` keys it; returns the state
    of each of its executions so far."""
    sha256, fingerprint = local_runner.data_key(str(data))
    example_gen = ImageExampleGen(
        data_uri=str(data), eval_percent=20, sha256=sha256 or None, data_fingerprint=fingerprint or None
    )
    metadata = tmp_path / "metadata.sqlite"
    tfx.orchestration.LocalDagRunner().run(
        tfx.dsl.Pipeline(
            pipeline_name="cache-key",
            pipeline_root=str(tmp_path / "root"),
            components=[example_gen],
            enable_cache=True,
            metadata_connection_config=tfx.orchestration.metadata.sqlite_metadata_connection_config(str(metadata)),
        )
    )
    from ml_metadata.metadata_store import metadata_store

    config = tfx.orchestration.metadata.sqlite_metadata_connection_config(str(metadata))
    return [e.last_known_state for e in metadata_store.MetadataStore(config).get_executions()]


def test_a_changed_folder_is_ingested_again_and_an_unchanged_one_is_cached(tmp_path):
    folder = write_folder(tmp_path / "data", imagegen.class_folder_files(3))
    State = metadata_store_pb2.Execution
    assert _ingest_cached(tmp_path, folder) == [State.COMPLETE]
    assert _ingest_cached(tmp_path, folder) == [State.COMPLETE, State.CACHED]
    (folder / "dogs" / "dogs.0.jpg").write_bytes(imagegen.image_bytes(1, seed=99))
    assert _ingest_cached(tmp_path, folder) == [State.COMPLETE, State.CACHED, State.COMPLETE]


def test_the_local_runner_passes_the_fingerprint_to_ingestion(tmp_path):
    folder = write_folder(tmp_path / "data", imagegen.class_folder_files(1))
    sha256, fingerprint = local_runner.data_key(str(folder))
    assert sha256 == "" and fingerprint == sources.resolve(str(folder)).list_files().fingerprint()
    pipeline = create_pipeline(
        LocalRunSettings(data_uri=str(folder)),
        pipeline_root=str(tmp_path / "root"),
        serving_model_dir=str(tmp_path / "serving"),
        data_fingerprint=fingerprint,
    )
    [example_gen] = [c for c in pipeline.components if isinstance(c, ImageExampleGen)]
    assert example_gen.exec_properties[executor.DATA_FINGERPRINT_KEY] == fingerprint
    zipped = imagegen.write_zip(tmp_path / "data.zip", imagegen.class_folder_files(1))
    assert local_runner.data_key(zipped)[1] == ""  # a local zip is keyed by its sha256, as before


def test_a_folder_that_changed_since_the_run_started_stops_ingestion(tmp_path):
    folder = write_folder(tmp_path / "data", imagegen.class_folder_files(2))
    _, before = local_runner.data_key(str(folder))
    (folder / "cats" / "new.jpg").write_bytes(imagegen.image_bytes(0, seed=5))
    with pytest.raises(DatasetError, match=f"^{re.escape(str(folder))}: changed since the run started"):
        run_ingestion(tmp_path / "out", folder, **{executor.DATA_FINGERPRINT_KEY: before})


# --- bad folders ----------------------------------------------------------------------------------------


def _names(n, prefix):
    return {f"{prefix}{i}.jpg": b"x" for i in range(n)}


@pytest.mark.parametrize(
    "files, message",
    [
        ({**_names(2, "train/cats/"), **_names(2, "val/cats/")}, "expected exactly 2 class folders, found 1 (cats)"),
        ({**_names(1, "x/a/"), **_names(1, "x/b/"), **_names(1, "x/c/")}, "expected exactly 2 class folders, found 3"),
        (
            {**_names(1, "train/a/"), **_names(1, "train/b/"), **_names(1, "val/a/")},
            "split 'eval' has no files of class b",
        ),
        ({}, "the folder holds no files"),
        ({".DS_Store": b"\0", "__MACOSX/a/._1.jpg": b"\0"}, "the folder holds no files"),
    ],
    ids=["one-class", "three-classes", "split-missing-class", "empty", "litter-only"],
)
def test_a_bad_folder_is_refused_naming_it_and_the_problem(tmp_path, files, message):
    folder = write_folder(tmp_path / "data", files)
    folder.mkdir(exist_ok=True)
    with pytest.raises(DatasetError, match=f"^{re.escape(str(folder))}: {re.escape(message)}"):
        read_layout(str(folder))
    if files:  # the zip of the same files gets the same words
        with pytest.raises(DatasetError, match=f"data.zip: {re.escape(message.replace('folder holds', 'zip holds'))}"):
            read_layout(imagegen.write_zip(tmp_path / "data.zip", files))


def test_a_file_over_the_size_limit_is_refused_in_a_folder_as_in_a_zip(tmp_path, monkeypatch):
    files = imagegen.class_folder_files(2)
    files["cats/big.jpg"] = b"\0" * 5000
    monkeypatch.setattr(limits, "MAX_FILE_BYTES", 4000)
    in_folder = read_layout(str(write_folder(tmp_path / "data", files)))
    zipped = read_layout(imagegen.write_zip(tmp_path / "data.zip", files))
    assert in_folder.skipped == [("cats/big.jpg", "is 5,000 bytes, more than the 4,000 allowed for one file")]
    assert zipped.skipped == [
        ("cats/big.jpg", "declares 5,000 bytes uncompressed, more than the 4,000 allowed for one file")
    ]
    assert in_folder.entries == zipped.entries


def test_data_that_is_not_there_or_not_a_zip_is_named(tmp_path):
    with pytest.raises(DatasetError, match=f"^{re.escape(str(tmp_path))}/absent: no such zip, folder or object-store"):
        sources.resolve(str(tmp_path / "absent"))
    folder = write_folder(tmp_path / "data", imagegen.class_folder_files(1))
    with pytest.raises(DatasetError, match="data: --sha256 checks a zip, and this is a folder"):
        sources.resolve(str(folder), sha256="ab" * 32)
    (tmp_path / "notes.zip").write_text("not a zip")
    with pytest.raises(DatasetError, match=r"notes\.zip: not a zip file"):
        sources.resolve(str(tmp_path / "notes.zip")).list_files()
    with pytest.raises(DatasetError, match="ftp://example.invalid/x: unsupported scheme 'ftp'"):
        sources.resolve("ftp://example.invalid/x")


def test_an_unreadable_zip_member_is_skipped_with_its_reason(tmp_path):
    path = imagegen.write_zip(tmp_path / "data.zip", imagegen.class_folder_files(1))
    with zipfile.ZipFile(path) as zf:
        first = zf.infolist()[0]
    with open(path, "r+b") as f:  # damage the first member's data: its CRC no longer matches
        f.seek(first.header_offset + 30 + len(first.filename) + 10)
        f.write(b"\0\0\0\0")
    with sources.resolve(path).open() as reader, pytest.raises(sources.UnreadableMember, match="unreadable in the zip"):
        reader.read(first.filename)
