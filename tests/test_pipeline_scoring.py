"""`catdog run --score-data`: the pipeline ingests the images to score unlabelled and its BulkInferrer scores
them with the model once the Evaluator blesses it, as serving_default would; an unblessed model scores nothing
and the run says so."""

import json
from pathlib import Path

import imagegen
import numpy as np
import pytest
import tensorflow as tf
from conftest import run_catdog
from ml_metadata.proto import metadata_store_pb2
from serving_fixtures import reference_predictions
from test_pipeline_e2e import _executions_by_node

from components import contract
from components.scores import Scores, export_scores
from pipeline import configs
from pipeline.run_summary import find_artifacts

NOT_AN_IMAGE = b"these are notes, not a picture"
# Files anywhere in the zip, one in what looks like a class folder: none of the folders is taken for a label.
SCORE_FILES = {
    "loose.jpg": imagegen.image_bytes(0, (120, 90), seed=500),
    "new/a.png": imagegen.image_bytes(1, (64, 64), "png", seed=501),
    "new/sub/b.jpg": imagegen.image_bytes(1, (200, 160), seed=502),
    "cats/c.jpg": imagegen.image_bytes(0, (96, 80), seed=503),
    "new/notes.jpg": NOT_AN_IMAGE,
}


@pytest.fixture(scope="module")
def scoring_runs(tmp_path_factory, backbone_weights):
    """Two runs in one folder on the same data and score set: first under an accuracy floor of 1, which no
    model reaches here (two cat-like pictures are filed as dogs in validation), so not blessed; then with no
    floor, which blesses the same (cached) model. One short training serves both."""
    root = tmp_path_factory.mktemp("scoring")
    files = imagegen.class_folder_files(12, prefix="data/train/", formats=("jpg", "png"))
    files.update(imagegen.class_folder_files(4, prefix="data/validation/", seed=1000))
    files.update({f"data/validation/dogs/odd.{i}.jpg": imagegen.image_bytes(0, seed=2000 + i) for i in range(2)})
    data = imagegen.write_zip(root / "data.zip", files)
    score_data = imagegen.write_zip(root / "new.zip", SCORE_FILES)
    output = root / "out"
    args = (
        "--data",
        data,
        "--score-data",
        score_data,
        "--output",
        output,
        "--epochs",
        1,
        "--fine-tune-epochs",
        0,
        "--backbone-weights",
        backbone_weights,
    )
    unblessed = run_catdog("run", *args, "--min-accuracy", 1, timeout=1800)
    scores_after_unblessed = (output / configs.SCORES_FILE).exists()
    blessed = run_catdog("run", *args, "--min-accuracy", 0, timeout=1800)
    assert blessed.returncode == 0, blessed.stderr[-5000:]
    return unblessed, scores_after_unblessed, blessed, output


def _rows(output: Path):
    return {row["file"]: row for row in map(json.loads, (output / configs.SCORES_FILE).read_text().splitlines())}


def test_an_unblessed_model_scores_nothing_and_the_run_says_so(scoring_runs):
    unblessed, scores_after_unblessed, _, output = scoring_runs
    assert unblessed.returncode == 3, unblessed.stderr[-5000:]
    assert "Model NOT pushed: accuracy floor failed" in unblessed.stdout
    assert (
        "No scores of --score-data: the model was not blessed (BulkInferrer scores blessed models only)"
        in unblessed.stdout
    )
    assert not scores_after_unblessed
    # It ran (and wrote nothing) on the first run, and ran again on the second's blessing.
    runs = _executions_by_node(output)[configs.BULK_INFERRER_ID]
    assert [r.last_known_state for r in runs] == [metadata_store_pb2.Execution.COMPLETE] * 2


def test_a_blessed_model_scores_every_image_as_serving_default_does(scoring_runs):
    _, _, blessed, output = scoring_runs
    rows = _rows(output)
    assert set(rows) == set(SCORE_FILES)
    assert "not a decodable" in rows["new/notes.jpg"]["error"]
    model = find_artifacts(str(output / configs.METADATA_FILE)).model + "/Format-Serving"
    good = {name: data for name, data in SCORE_FILES.items() if data != NOT_AN_IMAGE}
    for name, reference in zip(good, reference_predictions(model, list(good.values()))):
        row = rows[name]
        assert 0 <= row["probability"] <= 1
        assert row["class_name"] == ("dogs" if row["probability"] >= 0.5 else "cats") == reference["class_name"]
        assert row["probability"] == pytest.approx(reference["probability"], abs=1e-6)
        assert isinstance(row["in_distribution"], bool) and row["ood_score"] >= 0  # BulkInferrer's columns too
    assert (
        f"Scored 4 images of --score-data, 1 files could not be (their lines give the reason): "
        f"{output / configs.SCORES_FILE}"
    ) in blessed.stdout


def test_the_run_reads_its_training_data_not_the_score_set(scoring_runs):
    _, _, blessed, output = scoring_runs
    artifacts = find_artifacts(str(output / configs.METADATA_FILE))
    assert f"/{configs.TRAINING_EXAMPLE_GEN_ID}/" in artifacts.examples
    assert f"/{configs.SCORE_EXAMPLE_GEN_ID}/" in artifacts.score_examples
    assert f"/{configs.BULK_INFERRER_ID}/" in artifacts.scores
    assert "Skipped" not in blessed.stdout  # the training data's ingest report: nothing skipped there


def test_score_signature_gives_serving_defaults_numbers_for_tf_examples(scoring_runs):
    output = scoring_runs[3]
    model = tf.saved_model.load(find_artifacts(str(output / configs.METADATA_FILE)).model + "/Format-Serving")
    images = [data for data in SCORE_FILES.values() if data != NOT_AN_IMAGE]
    by_bytes = model.signatures[contract.IMAGE_BYTES_SIGNATURE](**{contract.IMAGE_BYTES_INPUT: tf.constant(images)})
    scores = model.signatures[contract.SCORE_TF_EXAMPLE_SIGNATURE](
        **{contract.TF_EXAMPLE_INPUT: tf.constant([contract.tf_example(image) for image in images])}
    )
    # Numbers only: tfx_bsl's RunInference cannot split a string output per example.
    assert {key: value.dtype for key, value in scores.items()} == {
        contract.PROBABILITY_OUTPUT: tf.float32,
        contract.CLASS_ID_OUTPUT: tf.int64,
        contract.OOD_SCORE_OUTPUT: tf.float32,
        contract.IN_DISTRIBUTION_OUTPUT: tf.bool,
    }
    for key in (contract.PROBABILITY_OUTPUT, contract.OOD_SCORE_OUTPUT):
        np.testing.assert_allclose(scores[key], by_bytes[key], rtol=1e-5, atol=1e-6)
    for key in (contract.CLASS_ID_OUTPUT, contract.IN_DISTRIBUTION_OUTPUT):
        np.testing.assert_array_equal(scores[key], by_bytes[key])


def test_no_scores_leave_no_earlier_runs_file_to_pass_for_this_ones(tmp_path):
    path = tmp_path / configs.SCORES_FILE
    path.write_text('{"file": "old.jpg", "class_name": "cats", "probability": 0.1}\n')
    assert export_scores("", "", "", str(path)) == Scores("", 0, 0)
    assert not path.exists()
