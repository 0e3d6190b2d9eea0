"""ImageExampleGen's executor and the zip fetcher: what reaches the TFRecords, what is reported, what is refused."""

import functools
import hashlib
import http.server
import json
import threading
from pathlib import Path

import imagegen
import pytest
import tensorflow as tf
from tfx.types import artifact_utils, standard_artifacts

from components import contract
from components.ingest import executor, fetch
from components.ingest.errors import DatasetError
from pipeline.settings import RunSettings


def _run_executor(tmp_path, data_uri, **props):
    examples = standard_artifacts.Examples()
    examples.uri = str(tmp_path / "examples")
    props = {executor.DATA_URI_KEY: data_uri, executor.EVAL_PERCENT_KEY: RunSettings.eval_percent, **props}
    executor.Executor().Do({}, {executor.EXAMPLES_KEY: [examples]}, props)
    return examples


def _read_split(examples, split):
    records = tf.data.TFRecordDataset(tf.io.gfile.glob(f"{examples.uri}/Split-{split}/*"), compression_type="GZIP")
    parsed = [tf.train.Example.FromString(r.numpy()) for r in records]
    return {
        e.features.feature[contract.FILENAME_KEY].bytes_list.value[0].decode(): (
            e.features.feature[contract.LABEL_KEY].int64_list.value[0],
            e.features.feature[contract.IMAGE_RAW_KEY].bytes_list.value[0],
        )
        for e in parsed
    }


def test_examples_hold_images_labels_and_names_and_bad_files_are_reported(tmp_path):
    files = imagegen.class_folder_files(3, prefix="d/train/", formats=("jpg", "png", "gif"))
    files.update(imagegen.class_folder_files(2, prefix="d/validation/", formats=("bmp",)))
    files["d/train/cats/corrupt.jpg"] = b"\xff\xd8\xff\xe0 not really a jpeg"
    files["d/train/dogs/notes.txt"] = b"some text"
    files["d/validation/dogs/empty.jpg"] = b""
    data = imagegen.write_zip(tmp_path / "data.zip", files)

    examples = _run_executor(tmp_path, data)

    assert artifact_utils.decode_split_names(examples.split_names) == ["train", "eval"]
    train, val = _read_split(examples, "train"), _read_split(examples, "eval")
    assert sorted(train) == sorted(
        k for k in files if "/train/" in k and k.rsplit(".", 1)[1] != "txt" and "corrupt" not in k
    )
    assert len(val) == 4
    assert train["d/train/dogs/dogs.1.png"][0] == 1 and train["d/train/cats/cats.1.png"][0] == 0
    assert train["d/train/cats/cats.2.gif"][1] == files["d/train/cats/cats.2.gif"]  # bytes kept as encoded

    with open(tmp_path / "examples" / contract.INGEST_REPORT_FILE) as f:
        report = json.load(f)
    reasons = {s["file"]: s["reason"] for s in report["skipped"]}
    assert set(reasons) == {"d/train/cats/corrupt.jpg", "d/train/dogs/notes.txt", "d/validation/dogs/empty.jpg"}
    assert reasons["d/validation/dogs/empty.jpg"] == "empty file"
    assert "not a decodable" in reasons["d/train/dogs/notes.txt"]
    assert report["counts"] == {"train": {"cats": 3, "dogs": 3}, "eval": {"cats": 2, "dogs": 2}}
    assert contract.IngestReport.read(str(tmp_path / "examples")).class_names == ["cats", "dogs"]


def test_unlabelled_images_go_to_one_score_split_without_labels_and_bad_files_are_reported(tmp_path):
    files = {
        "loose.jpg": imagegen.image_bytes(0),
        "new/b.png": imagegen.image_bytes(1, fmt="png"),
        "new/notes.jpg": b"these are notes",
    }
    data = imagegen.write_zip(tmp_path / "new.zip", files)

    examples = _run_executor(tmp_path, data, **{executor.UNLABELLED_KEY: 1})

    assert artifact_utils.decode_split_names(examples.split_names) == ["score"]
    records = tf.data.TFRecordDataset(tf.io.gfile.glob(f"{examples.uri}/Split-score/*"), compression_type="GZIP")
    parsed = {
        e.features.feature[contract.FILENAME_KEY].bytes_list.value[0].decode(): e
        for e in (tf.train.Example.FromString(r.numpy()) for r in records)
    }
    assert set(parsed) == {"loose.jpg", "new/b.png"}
    assert all(set(e.features.feature) == {contract.IMAGE_RAW_KEY, contract.FILENAME_KEY} for e in parsed.values())
    with open(tmp_path / "examples" / contract.INGEST_REPORT_FILE) as f:
        report = json.load(f)
    assert [s["file"] for s in report["skipped"]] == ["new/notes.jpg"]
    assert report["counts"] == {"score": {"(unlabelled)": 2}} and report["class_names"] == []


def test_unlabelled_images_none_decodable_stop_the_run(tmp_path):
    data = imagegen.write_zip(tmp_path / "new.zip", {"a.jpg": b"broken"})
    with pytest.raises(DatasetError, match=r"new\.zip: split 'score' has no decodable image; 1 files skipped: a\.jpg"):
        _run_executor(tmp_path, data, **{executor.UNLABELLED_KEY: 1})


def test_a_class_left_without_decodable_images_stops_with_its_name(tmp_path):
    files = imagegen.class_folder_files(2, prefix="train/")
    files.update({"val/cats/a.jpg": imagegen.image_bytes(0, seed=99), "val/dogs/b.jpg": b"broken"})
    data = imagegen.write_zip(tmp_path / "data.zip", files)
    with pytest.raises(DatasetError, match="split 'eval' has no decodable image of class 'dogs'"):
        _run_executor(tmp_path, data)
    # The report is still there to say which file it was.
    with open(tmp_path / "examples" / contract.INGEST_REPORT_FILE) as f:
        assert json.load(f)["skipped"][0]["file"] == "val/dogs/b.jpg"


class _Server:
    """A static file server on 127.0.0.1 that counts GET requests."""

    def __init__(self, directory):
        self.gets = 0
        outer = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def do_GET(self):
                outer.gets += 1
                super().do_GET()

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=directory))
        self.url = f"http://127.0.0.1:{self.httpd.server_port}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


@pytest.fixture
def http_server(tmp_path):
    (tmp_path / "www").mkdir()
    server = _Server(str(tmp_path / "www"))
    yield server
    server.httpd.shutdown()


def test_url_download_is_cached_and_checked(tmp_path, http_server):
    payload = imagegen.write_zip(tmp_path / "www" / "pets.zip", imagegen.class_folder_files(1))
    sha = hashlib.sha256(Path(payload).read_bytes()).hexdigest()
    cache = str(tmp_path / "cache")
    url = f"{http_server.url}/pets.zip"

    first = fetch.fetch(url, cache_dir=cache, sha256=sha)
    second = fetch.fetch(url, cache_dir=cache, sha256=sha)
    assert first == second and Path(first).read_bytes() == Path(payload).read_bytes()
    assert http_server.gets == 1

    with pytest.raises(DatasetError, match="sha256 mismatch"):
        fetch.fetch(url, cache_dir=cache, sha256="0" * 64)
    with pytest.raises(DatasetError, match=r"missing\.zip: download failed: HTTP Error 404"):
        fetch.fetch(f"{http_server.url}/missing.zip", cache_dir=cache)


def test_file_url_and_missing_path(tmp_path):
    payload = imagegen.write_zip(tmp_path / "p.zip", imagegen.class_folder_files(1))
    assert fetch.fetch(f"file://{payload}") == payload
    with pytest.raises(DatasetError, match=r"nowhere\.zip: no such file"):
        fetch.fetch(str(tmp_path / "nowhere.zip"))
    with pytest.raises(DatasetError, match="unsupported scheme 'ftp'"):
        fetch.fetch("ftp://example.invalid/x.zip")


def test_executor_ingests_from_a_url(tmp_path, http_server, monkeypatch):
    imagegen.split_dataset(tmp_path / "www" / "pets.zip")
    monkeypatch.setenv(fetch.CACHE_DIR_ENV, str(tmp_path / "cache"))
    examples = _run_executor(tmp_path, f"{http_server.url}/pets.zip")
    assert len(_read_split(examples, "train")) == 60 and len(_read_split(examples, "eval")) == 20
    assert list((tmp_path / "cache").rglob("pets.zip"))  # downloaded into the cache the env var names
