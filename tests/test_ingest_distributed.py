"""Ingestion on Beam's multi-processing DirectRunner, the nearest thing to a cluster here: workers in processes of
their own, reading the data where the pipeline put it and handing results back only through the pipeline's
outputs. What they write must equal what the in-process runner writes."""

import os

import imagegen
import pytest
from ingest_runs import MULTI_PROCESSING, examples_of, report_of, run_ingestion, write_folder

from components.ingest import executor


def _dataset() -> dict:
    files = imagegen.class_folder_files(12, formats=("jpg", "png"))  # class folders only: split by name hash
    files["cats/corrupt.jpg"] = b"\xff\xd8\xff\xe0 not really a jpeg"
    files["dogs/empty.png"] = b""
    return files


@pytest.mark.parametrize("kind", ["zip", "folder"])
def test_multi_processing_ingestion_equals_in_process(tmp_path, kind):
    files = _dataset()
    if kind == "zip":
        data = imagegen.write_zip(tmp_path / "pets.zip", files)
    else:
        data = str(write_folder(tmp_path / "pets", files))

    in_process = run_ingestion(tmp_path / "ImageExampleGen" / "examples" / "1", data)
    workers = run_ingestion(tmp_path / "ImageExampleGen" / "examples" / "2", data, beam_args=MULTI_PROCESSING)

    expected = examples_of(in_process)
    assert len(expected) == 24 and {split for _, _, split, _ in expected} == {"train", "eval"}
    assert examples_of(workers) == expected
    skipped = report_of(workers)["skipped"]
    assert skipped == report_of(in_process)["skipped"]
    assert [s["file"] for s in skipped] == ["cats/corrupt.jpg", "dogs/empty.png"]
    assert report_of(workers)["counts"] == report_of(in_process)["counts"]
    # The staged copy and the workers' skipped-file shards are gone: the artifact holds the splits and reports.
    assert not os.path.exists(os.path.join(workers.uri, executor.WORK_DIR))
