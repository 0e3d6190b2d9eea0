"""The real pipeline on generated images: every component runs, a model is pushed and answers, the gate holds."""

import json
import os
import re
import zipfile

import imagegen
import numpy as np
import pytest
import tensorflow as tf
from conftest import run_catdog
from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2
from tfx.orchestration import metadata

from components import contract, trainer
from insight import evaluation
from pipeline.run_summary import find_artifacts
from pipeline.settings import DEFAULT_MAX_REGRESSION

NODES = {
    "ImageExampleGen",
    "StatisticsGen",
    "SchemaGen",
    "ExampleValidator",
    "DataGate",
    "Transform",
    "Trainer",
    "Evaluator",
    "AtomicPusher",
}
DONE = {metadata_store_pb2.Execution.COMPLETE, metadata_store_pb2.Execution.CACHED}


def _accuracy(stdout: str) -> float:
    return float(re.search(r"Validation accuracy: ([01]\.\d{4})", stdout).group(1))


def _executions_by_node(output):
    """{node id: [executions, oldest first]} from the run's ML Metadata."""
    store = metadata_store.MetadataStore(metadata.sqlite_metadata_connection_config(str(output / "metadata.sqlite")))
    by_node = {}
    for context in store.get_contexts_by_type("node"):
        node = context.name.split(".", 1)[1]
        by_node[node] = sorted(store.get_executions_by_context(context.id), key=lambda e: e.id)
    return by_node


def test_every_component_succeeds_and_a_version_is_pushed(pipeline_run):
    executions = _executions_by_node(pipeline_run.output)
    assert set(executions) >= NODES
    for node in NODES:
        assert executions[node][-1].last_known_state in DONE, node
    versions = pipeline_run.versions()
    assert len(versions) == 1
    assert not [p for p in pipeline_run.serving_dir.iterdir() if not p.name.isdigit()]  # no staging left
    assert f"Model pushed to {pipeline_run.serving_dir / versions[0]}" in pipeline_run.result.stdout
    assert re.search(r"Validation accuracy: [01]\.\d{4}", pipeline_run.result.stdout)


@pytest.mark.parametrize("fmt, size", [("jpg", (200, 160)), ("png", (50, 90))])
def test_pushed_model_answers_raw_image_bytes(pipeline_run, tmp_path, fmt, size):
    path = tmp_path / f"pet.{fmt}"
    path.write_bytes(imagegen.image_bytes(1, size, fmt, seed=7))
    model = tf.saved_model.load(str(pipeline_run.latest_model))
    serve = model.signatures[contract.IMAGE_BYTES_SIGNATURE]
    out = serve(**{contract.IMAGE_BYTES_INPUT: tf.constant([path.read_bytes()] * 2)})
    probability = out[contract.PROBABILITY_OUTPUT].numpy()
    assert probability.shape == (2,) and np.all((probability >= 0) & (probability <= 1))
    names = [n.decode() for n in out[contract.CLASS_NAME_OUTPUT].numpy()]
    assert names[0] in ("cats", "dogs")
    assert names[0] == ("dogs" if probability[0] >= 0.5 else "cats")


def test_history_and_summary_are_in_the_model_run(pipeline_run):
    model_run = next((pipeline_run.output / "artifacts" / "Trainer" / "model_run").iterdir())
    assert "conv_pw_13" in (model_run / "model_summary.txt").read_text()  # the MobileNet backbone's last block
    history = json.loads((model_run / "history.json").read_text())
    # The pretrained preset's two phases, one epoch each; a fixed schedule keeps the last epoch.
    assert history["phase_epochs"] == [1, 1] and len(history["history"]["val_accuracy"]) == 2
    assert history["kept_epoch"] == 2 and history["kept_by"] == "last epoch of a fixed schedule"
    assert any(f.startswith("events.out.tfevents") for _, _, fs in os.walk(model_run / "logs") for f in fs)


def test_the_trainers_validation_scores_are_what_the_exported_model_answers(pipeline_run):
    """The report's per-image figures come from the Trainer's validation scores (from the cached activations, for
    the default preset): every eval image once, scored as the exported model's serving_tf_example signature, the
    one TFMA evaluates, scores it."""
    artifacts = find_artifacts(str(pipeline_run.output / "metadata.sqlite"))
    with open(os.path.join(artifacts.model_run, trainer.VALIDATION_SCORES_FILE)) as f:
        lines = f.read().splitlines()
    rows = {row["file"]: row for row in map(json.loads, lines)}
    examples = list(evaluation.read_examples(artifacts.examples, "eval"))
    assert len(lines) == len(rows) == 20 and sorted(rows) == sorted(e.filename for e in examples)
    model = tf.saved_model.load(os.path.join(artifacts.model, "Format-Serving"))
    served = model.signatures[contract.TF_EXAMPLE_SIGNATURE](
        tf.constant([contract.tf_example(e.image_raw, e.label, e.filename) for e in examples])
    )
    ours = [rows[e.filename] for e in examples]
    np.testing.assert_allclose([r["probability"] for r in ours], served[contract.PROBABILITY_OUTPUT].numpy(), atol=1e-3)
    assert [r["class_name"] for r in ours] == [n.decode() for n in served[contract.CLASS_NAME_OUTPUT].numpy()]
    np.testing.assert_allclose([r["ood_score"] for r in ours], served[contract.OOD_SCORE_OUTPUT].numpy(), rtol=1e-3)
    assert [r["in_distribution"] for r in ours] == served[contract.IN_DISTRIBUTION_OUTPUT].numpy().tolist()


def test_unreachable_floor_blocks_the_push_and_says_why(pipeline_run):
    if _accuracy(pipeline_run.result.stdout) == 1:
        pytest.skip("the first run's model is perfect on its 20 validation images: no floor is out of its reach")
    before = pipeline_run.versions()
    result = run_catdog(
        "run",
        "--data",
        pipeline_run.data_zip,
        "--output",
        pipeline_run.output,
        *pipeline_run.train_args,
        "--min-accuracy",
        1,
    )
    assert result.returncode == 3, result.stderr[-3000:]  # not pushed: scripts can tell
    assert pipeline_run.versions() == before
    assert "Model NOT pushed: accuracy floor failed: binary_accuracy = " in result.stdout
    assert "below the required 1 (--min-accuracy)" in result.stdout
    # The run resumed from cache: the Trainer was not run again.
    trainer = _executions_by_node(pipeline_run.output)["Trainer"]
    assert trainer[-1].last_known_state == metadata_store_pb2.Execution.CACHED


def _with_training_labels_swapped(data_zip, path):
    """The same zip, but every training cat filed as a dog and every dog as a cat (validation unchanged)."""
    swap = {"/train/cats/": "/train/dogs/", "/train/dogs/": "/train/cats/"}
    with zipfile.ZipFile(data_zip) as source, zipfile.ZipFile(path, "w") as swapped:
        for name in source.namelist():
            renamed = next((name.replace(a, b) for a, b in swap.items() if a in name), name)
            swapped.writestr(renamed, source.read(name))
    return path


def test_a_worse_retrain_is_refused_and_the_message_says_by_how_much(pipeline_run, backbone_weights, tmp_path):
    before = pipeline_run.versions()
    blessed = _accuracy(pipeline_run.result.stdout)
    # Trained on swapped training labels, the candidate calls cats dogs: genuinely worse on the same validation
    # images than the blessed model.
    swapped = _with_training_labels_swapped(pipeline_run.data_zip, tmp_path / "swapped.zip")
    result = run_catdog(
        "run",
        "--data",
        swapped,
        "--output",
        pipeline_run.output,
        "--epochs",
        3,
        "--fine-tune-epochs",
        0,
        "--learning-rate",
        0.01,
        "--backbone-weights",
        backbone_weights,
        "--min-accuracy",
        0,
    )
    assert result.returncode == 3, result.stderr[-3000:]
    candidate = _accuracy(result.stdout)
    assert candidate < blessed - DEFAULT_MAX_REGRESSION, (blessed, candidate)
    lost = re.search(
        r"Model NOT pushed: no-regression check failed: binary_accuracy is (\d\.\d{4}) lower than "
        r"the latest blessed model's \(allowed: 0\.0100",
        result.stdout,
    )
    assert lost and float(lost.group(1)) == pytest.approx(blessed - candidate, abs=2e-4), result.stdout
    assert pipeline_run.versions() == before
    assert find_artifacts(str(pipeline_run.output / "metadata.sqlite")).blessed is False
    # The first run kept its schema; this one validated the data against it.
    assert (pipeline_run.output / "schema" / "schema.pbtxt").is_file()
    assert _executions_by_node(pipeline_run.output)["ImportSchemaGen"][-1].last_known_state in DONE


def test_data_that_breaks_the_schema_stops_the_run_before_training(pipeline_run, tmp_path):
    # A schema curated for photos that carry their breed: the generated images do not.
    schema = tmp_path / "schema.pbtxt"
    schema.write_text(
        (pipeline_run.output / "schema" / "schema.pbtxt").read_text()
        + (
            'feature { name: "breed" type: BYTES presence { min_fraction: 1.0 min_count: 1 } '
            "shape { dim { size: 1 } } }\n"
        )
    )
    output = tmp_path / "out"
    result = run_catdog(
        "run", "--data", pipeline_run.data_zip, "--output", output, "--schema-file", schema, *pipeline_run.train_args
    )
    assert result.returncode == 2
    [line] = [text for text in result.stderr.splitlines() if text.startswith("catdog: error:")]
    assert line.startswith("catdog: error: the data does not match the schema (") and "breed" in line
    assert "--allow-anomalies" in line and "Traceback" not in result.stderr
    executions = _executions_by_node(output)
    assert executions["ExampleValidator"][-1].last_known_state == metadata_store_pb2.Execution.COMPLETE
    assert not {"Transform", "Trainer"} & {node for node, runs in executions.items() if runs}
    assert not (output / "serving").exists()


def test_bad_zip_gets_one_clear_line(tmp_path):
    bad = tmp_path / "photos.zip"
    bad.write_text("not a zip at all")
    result = run_catdog("run", "--data", bad, "--output", tmp_path / "out", "--model", "tutorial")
    assert result.returncode == 2
    assert f"catdog: error: {bad}: not a zip file" in result.stderr
    assert "Traceback" not in result.stderr
