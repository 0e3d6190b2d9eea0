"""The real pipeline on generated images: every component runs, a model is pushed and answers, the gate holds."""

import os
import re

import numpy as np
import pytest
import tensorflow as tf
from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2
from tfx.orchestration import metadata

import imagegen
from components import exporter
from conftest import run_catdog

NODES = {"ImageExampleGen", "StatisticsGen", "SchemaGen", "ExampleValidator", "Transform", "Trainer",
         "Evaluator", "AtomicPusher"}
DONE = {metadata_store_pb2.Execution.COMPLETE, metadata_store_pb2.Execution.CACHED}


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
    assert NODES <= set(executions)
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
    serve = model.signatures[exporter.IMAGE_BYTES_SIGNATURE]
    out = serve(**{exporter.IMAGE_BYTES_INPUT: tf.constant([path.read_bytes()] * 2)})
    probability = out[exporter.PROBABILITY_OUTPUT].numpy()
    assert probability.shape == (2,) and np.all((probability >= 0) & (probability <= 1))
    names = [n.decode() for n in out[exporter.CLASS_NAME_OUTPUT].numpy()]
    assert names[0] in ("cats", "dogs")
    assert names[0] == ("dogs" if probability[0] >= 0.5 else "cats")


def test_history_and_summary_are_in_the_model_run(pipeline_run):
    model_run = next((pipeline_run.output / "artifacts" / "Trainer" / "model_run").iterdir())
    assert "conv2d" in (model_run / "model_summary.txt").read_text()
    history = (model_run / "history.json").read_text()
    assert '"val_accuracy"' in history and '"best_epoch": 1' in history
    assert any(f.startswith("events.out.tfevents") for _, _, fs in os.walk(model_run / "logs") for f in fs)


def test_unreachable_floor_blocks_the_push_and_says_why(pipeline_run):
    before = pipeline_run.versions()
    result = run_catdog("run", "--data", pipeline_run.data_zip, "--output", pipeline_run.output,
                        "--epochs", 1, "--min-accuracy", 1.01)
    assert result.returncode == 3, result.stderr[-3000:]  # not pushed: scripts can tell
    assert pipeline_run.versions() == before
    assert "Model NOT pushed" in result.stdout and "binary_accuracy" in result.stdout
    assert "1.01" in result.stdout
    # The run resumed from cache: the Trainer was not run again.
    trainer = _executions_by_node(pipeline_run.output)["Trainer"]
    assert trainer[-1].last_known_state == metadata_store_pb2.Execution.CACHED


def test_bad_zip_gets_one_clear_line(tmp_path):
    bad = tmp_path / "photos.zip"
    bad.write_text("not a zip at all")
    result = run_catdog("run", "--data", bad, "--output", tmp_path / "out", "--epochs", 1)
    assert result.returncode == 2
    assert f"catdog: error: {bad}: not a zip file" in result.stderr
    assert "Traceback" not in result.stderr
