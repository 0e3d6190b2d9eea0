"""Exact duplicate images: found within and across splits, named in the ingest report and the run report,
eval copies of training images dropped unless the run keeps them, and the counts what is left."""

from pathlib import Path

import imagegen
import pytest
import tensorflow as tf
from ingest_runs import record_as_ingestion_output, report_of, run_ingestion

from components import contract
from components.ingest import duplicates, executor
from components.ingest.errors import DatasetError

TRAIN_CAT, TRAIN_DOG = "d/train/cats/cats.0.jpg", "d/train/dogs/dogs.1.jpg"
WITHIN = "d/train/cats/same-as-cats.0.jpg"  # a second copy in train
LEAK = "d/validation/dogs/same-as-dogs.1.jpg"  # a training photo in eval
LEAK_TWICE = ("d/validation/cats/x.jpg", "d/validation/cats/y.jpg")  # two eval copies of an image in train


def _dataset(path) -> str:
    files = imagegen.class_folder_files(3, prefix="d/train/")
    files.update(imagegen.class_folder_files(3, prefix="d/validation/", seed=1000))
    files[WITHIN] = files[TRAIN_CAT]
    files[LEAK] = files[TRAIN_DOG]
    for name in LEAK_TWICE:
        files[name] = files["d/train/cats/cats.2.jpg"]
    return imagegen.write_zip(path, files)


def _ingest(tmp_path, data, **props):
    examples = run_ingestion(tmp_path / "examples", data, **props)
    return examples, report_of(examples)


def _file_names(examples, split):
    records = tf.data.TFRecordDataset(tf.io.gfile.glob(f"{examples.uri}/Split-{split}/*"), compression_type="GZIP")
    return sorted(
        tf.train.Example.FromString(r.numpy()).features.feature[contract.FILENAME_KEY].bytes_list.value[0].decode()
        for r in records
    )


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return _dataset(tmp_path_factory.mktemp("zip") / "data.zip")


@pytest.fixture(scope="module")
def default_run(tmp_path_factory, data):
    return _ingest(tmp_path_factory.mktemp("default"), data)


def test_decide_finds_groups_and_drops_only_eval_copies_of_training_images():
    groups = [
        ("a", [("train", "t/1"), ("train", "t/2")]),
        ("b", [("eval", "e/2"), ("train", "t/3"), ("eval", "e/1")]),
        ("c", [("eval", "e/3"), ("eval", "e/4")]),
        ("d", [("train", "t/4")]),  # a single file is no duplicate
    ]
    found = duplicates.decide(groups, keep_cross_split=False)
    assert [g.sha256 for g in found.groups] == ["b", "c", "a"]  # ordered by their files
    assert found.groups[0].files == (("eval", "e/1"), ("eval", "e/2"), ("train", "t/3"))
    assert found.dropped == ("e/1", "e/2")  # eval-only copies stay: they leak nothing from train
    counts = found.to_json()
    assert (counts[duplicates.WITHIN_SPLIT], counts[duplicates.ACROSS_SPLITS], counts[duplicates.DROPPED]) == (3, 1, 2)
    assert duplicates.decide(groups, keep_cross_split=True).dropped == ()


def test_duplicates_within_and_across_splits_are_named_and_eval_copies_dropped(default_run):
    examples, report = default_run
    found = report["duplicates"]
    named = [[(f["split"], f["file"]) for f in g["files"]] for g in found["groups"]]
    assert sorted(named) == sorted(
        [
            [("train", TRAIN_CAT), ("train", WITHIN)],
            [("eval", LEAK), ("train", TRAIN_DOG)],
            [("eval", LEAK_TWICE[0]), ("eval", LEAK_TWICE[1]), ("train", "d/train/cats/cats.2.jpg")],
        ]
    )
    assert all(len(g["sha256"]) == 64 for g in found["groups"])
    assert found["dropped"] == sorted([LEAK, *LEAK_TWICE])
    assert (found[duplicates.WITHIN_SPLIT], found[duplicates.ACROSS_SPLITS], found[duplicates.DROPPED]) == (2, 2, 3)

    eval_files = _file_names(examples, "eval")
    assert LEAK not in eval_files and not set(LEAK_TWICE) & set(eval_files) and len(eval_files) == 6
    assert WITHIN in _file_names(examples, "train")  # a copy within a split is reported, not dropped
    assert report["counts"] == {"train": {"cats": 4, "dogs": 3}, "eval": {"cats": 3, "dogs": 3}}
    properties = examples.mlmd_artifact.custom_properties
    assert {name: properties[name].int_value for name in duplicates.COUNTS} == {
        duplicates.WITHIN_SPLIT: 2,
        duplicates.ACROSS_SPLITS: 2,
        duplicates.DROPPED: 3,
    }
    assert properties["skipped_files"].int_value == 0  # dropped copies are not unreadable files


def test_the_flag_keeps_eval_copies_of_training_images(tmp_path, data):
    examples, report = _ingest(tmp_path, data, **{executor.KEEP_CROSS_SPLIT_DUPLICATES_KEY: 1})
    assert report["duplicates"]["dropped"] == [] and report["duplicates"][duplicates.ACROSS_SPLITS] == 2
    assert {LEAK, *LEAK_TWICE} <= set(_file_names(examples, "eval"))
    assert report["counts"]["eval"] == {"cats": 5, "dogs": 4}


def test_dropping_that_empties_an_eval_class_says_so(tmp_path):
    files = imagegen.class_folder_files(2, prefix="train/")
    files.update({"val/cats/a.jpg": files["train/cats/cats.0.jpg"], "val/dogs/b.jpg": imagegen.image_bytes(1, seed=99)})
    with pytest.raises(
        DatasetError,
        match="split 'eval' has no decodable image of class 'cats'.*1 eval copies of training images dropped",
    ):
        _ingest(tmp_path, imagegen.write_zip(tmp_path / "data.zip", files))


def test_the_run_report_shows_the_duplicate_counts_and_files(default_run, tmp_path):
    from insight.run_report import write_run_outputs

    examples, _ = default_run
    record_as_ingestion_output(str(tmp_path / "metadata.sqlite"), examples)

    text = Path(write_run_outputs(str(tmp_path))["html"]).read_text()
    assert (
        "Exact duplicate images (the same bytes): 2 group(s) within a split, 2 across train and eval "
        "(3 eval copies dropped)"
    ) in text
    assert f"eval: {LEAK} (dropped), train: {TRAIN_DOG}" in text
    # The run's summary (printed at the end of `catdog run` and atop the report) says the eval split shrank.
    assert "Left 3 eval image(s) out, exact copies of training images (--keep-cross-split-duplicates" in text
