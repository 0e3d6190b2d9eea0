"""How a zip's folders become splits and labels, and which zips are refused."""

import imagegen
import pytest
from layouts import read_layout

from components.ingest import layout
from components.ingest.errors import DatasetError


def _zip(tmp_path, files, name="data.zip"):
    return imagegen.write_zip(tmp_path / name, files)


def _names(n, prefix):
    return {f"{prefix}{i}.jpg": b"x" for i in range(n)}


def test_split_folders_give_splits_and_sorted_labels(tmp_path):
    files = {
        **_names(3, "root/train/dogs/"),
        **_names(2, "root/train/cats/"),
        **_names(1, "root/validation/cats/"),
        **_names(1, "root/validation/dogs/"),
    }
    data = read_layout(_zip(tmp_path, files))
    assert data.class_names == ["cats", "dogs"]
    assert not data.split_by_hash
    got = {(e.member, e.split, e.label) for e in data.entries}
    assert ("root/train/dogs/0.jpg", "train", 1) in got
    assert ("root/train/cats/1.jpg", "train", 0) in got
    assert ("root/validation/dogs/0.jpg", "eval", 1) in got
    assert len(data.entries) == 7


@pytest.mark.parametrize("folder", ["val", "test", "Validation"])
def test_other_eval_folder_names(tmp_path, folder):
    files = {**_names(1, "train/a/"), **_names(1, "train/b/"), **_names(1, f"{folder}/a/"), **_names(1, f"{folder}/b/")}
    data = read_layout(_zip(tmp_path, files))
    assert sorted(e.split for e in data.entries) == ["eval", "eval", "train", "train"]


def test_files_outside_class_folders_are_reported(tmp_path):
    files = {
        **_names(1, "train/a/"),
        **_names(1, "train/b/"),
        **_names(1, "val/a/"),
        **_names(1, "val/b/"),
        "README.txt": b"hi",
        "train/loose.jpg": b"x",
        "__MACOSX/train/a/._0.jpg": b"junk",
    }
    data = read_layout(_zip(tmp_path, files))
    assert sorted(m for m, _ in data.skipped) == ["README.txt", "train/loose.jpg"]
    assert len(data.entries) == 4


def test_class_folders_only_are_split_by_file_name_hash(tmp_path):
    files = {**_names(150, "pets/cats/"), **_names(150, "pets/dogs/")}
    data = read_layout(_zip(tmp_path, files), eval_percent=20)
    assert data.split_by_hash and data.class_names == ["cats", "dogs"]
    eval_share = sum(e.split == "eval" for e in data.entries) / len(data.entries)
    assert 0.12 < eval_share < 0.28
    # Deterministic per file: a bigger zip leaves the old files where they were.
    bigger = read_layout(_zip(tmp_path, {**files, **_names(50, "pets/cats/new")}, "b.zip"), eval_percent=20)
    before = {e.member: e.split for e in data.entries}
    assert all(before[e.member] == e.split for e in bigger.entries if e.member in before)
    more_eval = read_layout(_zip(tmp_path, files), eval_percent=50)
    assert sum(e.split == "eval" for e in more_eval.entries) > sum(e.split == "eval" for e in data.entries)


def test_unlabelled_takes_every_file_into_one_split_without_a_label(tmp_path):
    # Photos to score: loose, in any folders, even in what would be one class folder.
    files = {"a.jpg": b"x", "new/b.png": b"x", "new/deeper/c.jpg": b"x", "__MACOSX/._a.jpg": b"junk"}
    data = read_layout(_zip(tmp_path, files), unlabelled=True)
    assert {(e.member, e.split, e.label) for e in data.entries} == {
        ("a.jpg", "score", None),
        ("new/b.png", "score", None),
        ("new/deeper/c.jpg", "score", None),
    }
    assert data.splits == ("score",) and data.class_names == [] and not data.skipped
    assert [data.count_key(e) for e in data.entries] == [layout.UNLABELLED] * 3 == data.count_keys * 3


@pytest.mark.parametrize(
    "files, message",
    [
        ({**_names(2, "train/cats/"), **_names(2, "val/cats/")}, "expected exactly 2 class folders, found 1 (cats)"),
        ({**_names(1, "x/a/"), **_names(1, "x/b/"), **_names(1, "x/c/")}, "found 3 (a, b, c)"),
        ({"notes.txt": b"no images"}, "found 0"),
        (
            {**_names(1, "train/a/"), **_names(1, "train/b/"), **_names(1, "val/a/")},
            "split 'eval' has no files of class b",
        ),
    ],
    ids=["one-class", "three-classes", "no-images", "split-missing-class"],
)
def test_unusable_zips_are_refused_with_the_reason(tmp_path, files, message):
    path = _zip(tmp_path, files)
    with pytest.raises(DatasetError, match=r"data\.zip: .*") as err:
        read_layout(path)
    assert message in str(err.value)


def test_empty_zip_and_not_a_zip(tmp_path):
    with pytest.raises(DatasetError, match="holds no files"):
        read_layout(_zip(tmp_path, {}))
    text = tmp_path / "fake.zip"
    text.write_text("this is not a zip")
    with pytest.raises(DatasetError, match=r"fake\.zip: not a zip file"):
        read_layout(str(text))
