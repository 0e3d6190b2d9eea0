"""Every setting of a run reaches the compiled Kubeflow spec, each where its component reads it."""

import dataclasses
import json

import pytest
import yaml

from cli import main as cli
from components import settings_core
from pipeline import settings

SHARED = [f for f in dataclasses.fields(settings.RunSettings)]
TRAINING = {f.name for f in dataclasses.fields(settings.TrainingSettings)}
# A value other than the default for every setting of a run: a new setting fails this test until it has one.
SAMPLES = {
    "epochs": 37,
    "batch_size": 13,
    "learning_rate": 0.00123,
    "model_preset": "augmented",
    "backbone_weights": "gs://weights/backbone.h5",
    "distribution_strategy": "mirrored",
    "seed": 4242,
    "early_stopping_patience": 5,
    "lr_schedule": "constant",
    "deterministic": True,
    "train_cache_memory_share": 0.25,
    "fine_tune_epochs": 3,
    "fine_tune_learning_rate": 2e-5,
    "data_uri": "gs://catdog-test/data/pets.zip",
    "data_sha256": "ab" * 32,
    "model_name": "pets",
    "score_data_uri": "gs://catdog-test/data/new-photos.zip",
    "eval_percent": 17,
    "keep_cross_split_duplicates": True,
    "download_timeout_seconds": 77,
    "image_size": 96,
    "min_accuracy": 0.83,
    "max_regression": 0.025,
    "schema_file": "gs://catdog-test/schema.pbtxt",
    "allow_anomalies": True,
    "beam_pipeline_args": ("--direct_num_workers=3",),
}
ROOT = "gs://catdog-test/root"


def _flags(field, value) -> list:
    flag = settings_core.flag_of(field)
    if isinstance(value, bool):
        return [flag] if value != field.default else []
    if isinstance(value, tuple):
        return [f"{flag}={v}" for v in value]
    return [flag, str(value)]


def _task_parameter(spec, task, name):
    return spec["root"]["dag"]["tasks"][task]["inputs"]["parameters"][name]["runtimeValue"]["constant"]


def _eval_config(spec):
    return json.loads(spec["root"]["inputDefinitions"]["parameters"]["eval_config"]["defaultValue"])


def _accuracy_threshold(spec):
    [metric] = [m for s in _eval_config(spec)["metricsSpecs"] for m in s["metrics"] if "threshold" in m]
    return metric["threshold"]


# Where each setting that is not the Trainer's lands in the compiled spec.
LOCATIONS = {
    "data_uri": lambda spec: spec["root"]["inputDefinitions"]["parameters"]["data_uri"]["defaultValue"],
    "data_sha256": lambda spec: spec["root"]["inputDefinitions"]["parameters"]["data_sha256"]["defaultValue"],
    "score_data_uri": lambda spec: _task_parameter(spec, "ScoreExampleGen", "data_uri"),
    "model_name": lambda spec: json.loads(_task_parameter(spec, "AtomicPusher", "push_destination"))["filesystem"][
        "base_directory"
    ].rsplit("/", 1)[-1],
    "eval_percent": lambda spec: _task_parameter(spec, "ImageExampleGen", "eval_percent"),
    "download_timeout_seconds": lambda spec: _task_parameter(spec, "ImageExampleGen", "download_timeout_seconds"),
    "keep_cross_split_duplicates": lambda spec: bool(
        _task_parameter(spec, "ImageExampleGen", "keep_cross_split_duplicates")
    ),
    "image_size": lambda spec: json.loads(_task_parameter(spec, "Transform", "custom_config"))["image_size"],
    "min_accuracy": lambda spec: _accuracy_threshold(spec)["valueThreshold"]["lowerBound"],
    "max_regression": lambda spec: -_accuracy_threshold(spec)["changeThreshold"]["absolute"],
    "schema_file": lambda spec: _task_parameter(spec, "ImportSchemaGen", "schema_file"),
    "allow_anomalies": lambda spec: bool(_task_parameter(spec, "DataGate", "allow_anomalies")),
    "beam_pipeline_args": lambda spec: tuple(
        a
        for a in spec["deploymentSpec"]["executors"]["Transform_executor"]["container"]["args"]
        if a in SAMPLES["beam_pipeline_args"]
    ),
}


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    """The KFP package compiled with every setting of a run away from its default."""
    path = tmp_path_factory.mktemp("kfp") / "samples.yaml"
    args = [flag for field in SHARED for flag in _flags(field, SAMPLES[field.name])]
    assert cli.main(["kfp", "compile", "--output", str(path), "--pipeline-root", ROOT, *args]) == 0
    return yaml.safe_load(path.read_text())


def test_every_setting_has_a_sample():
    assert set(SAMPLES) == {f.name for f in SHARED}
    assert all(SAMPLES[f.name] != f.default for f in SHARED)


@pytest.mark.parametrize("field", SHARED, ids=lambda f: f.name)
def test_every_setting_reaches_the_compiled_kubeflow_spec(compiled, field):
    if field.name in TRAINING:
        found = json.loads(_task_parameter(compiled, "Trainer", "custom_config"))[field.name]
    else:
        found = LOCATIONS[field.name](compiled)
    assert found == pytest.approx(SAMPLES[field.name]) if isinstance(found, float) else found == SAMPLES[field.name]
