"""Settings declared once (pipeline/settings.py): every one reaches both commands' flags and the compiled
Kubeflow spec; bad values get one line; the Kubeflow GPU type fits the target."""

import dataclasses
import json
import subprocess
import sys

import pytest
import yaml

from conftest import run_catdog
from pipeline import cli, settings

SHARED = [f for f in dataclasses.fields(settings.RunSettings)]
TRAINING = {f.name for f in dataclasses.fields(settings.TrainingSettings)}
# A value other than the default for every setting of a run: a new setting fails this test until it has one.
SAMPLES = {
    "epochs": 37, "batch_size": 13, "learning_rate": 0.00123, "model_preset": "augmented",
    "backbone_weights": "gs://weights/backbone.h5", "seed": 4242, "early_stopping_patience": 5,
    "lr_schedule": "constant", "deterministic": True, "train_cache_memory_share": 0.25, "fine_tune_epochs": 3, "fine_tune_learning_rate": 2e-5,
    "data_uri": "gs://catdog-test/data/pets.zip", "data_sha256": "ab" * 32, "model_name": "pets",
    "score_data_uri": "gs://catdog-test/data/new-photos.zip",
    "eval_percent": 17, "keep_cross_split_duplicates": True, "download_timeout_seconds": 77, "image_size": 96, "min_accuracy": 0.83, "max_regression": 0.025,
    "schema_file": "gs://catdog-test/schema.pbtxt", "allow_anomalies": True,
    "beam_pipeline_args": ("--direct_num_workers=3",),
}
ROOT = "gs://catdog-test/root"
SERVING = "gs://catdog-test/serving"


def _flags(field, value) -> list:
    flag = settings.flag_of(field)
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
    "model_name": lambda spec: json.loads(_task_parameter(spec, "AtomicPusher", "push_destination"))[
        "filesystem"]["base_directory"].rsplit("/", 1)[-1],
    "eval_percent": lambda spec: _task_parameter(spec, "ImageExampleGen", "eval_percent"),
    "download_timeout_seconds": lambda spec: _task_parameter(spec, "ImageExampleGen", "download_timeout_seconds"),
    "keep_cross_split_duplicates": lambda spec: bool(
        _task_parameter(spec, "ImageExampleGen", "keep_cross_split_duplicates")),
    "image_size": lambda spec: json.loads(_task_parameter(spec, "Transform", "custom_config"))["image_size"],
    "min_accuracy": lambda spec: _accuracy_threshold(spec)["valueThreshold"]["lowerBound"],
    "max_regression": lambda spec: -_accuracy_threshold(spec)["changeThreshold"]["absolute"],
    "schema_file": lambda spec: _task_parameter(spec, "ImportSchemaGen", "schema_file"),
    "allow_anomalies": lambda spec: bool(_task_parameter(spec, "DataGate", "allow_anomalies")),
    "beam_pipeline_args": lambda spec: tuple(
        a for a in spec["deploymentSpec"]["executors"]["Transform_executor"]["container"]["args"]
        if a in SAMPLES["beam_pipeline_args"]),
}


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    """The KFP package compiled with every setting of a run away from its default."""
    path = tmp_path_factory.mktemp("kfp") / "samples.yaml"
    args = [flag for field in SHARED for flag in _flags(field, SAMPLES[field.name])]
    assert cli.main(["kfp", "compile", "--output", str(path), "--pipeline-root", ROOT, *args]) == 0
    return yaml.safe_load(path.read_text())


def _help(*command) -> None:
    parser = cli.build_parser()
    with pytest.raises(SystemExit):
        parser.parse_args([*command, "--help"])


def test_every_setting_has_a_sample():
    assert set(SAMPLES) == {f.name for f in SHARED}
    assert all(SAMPLES[f.name] != f.default for f in SHARED)


@pytest.mark.parametrize("command, settings_type", [
    (["run"], settings.LocalRunSettings),
    (["kfp", "compile"], settings.KubeflowSettings),
    (["kfp", "deploy"], settings.KubeflowSettings),
])
def test_every_setting_is_a_flag_with_its_default_and_help(capsys, command, settings_type):
    _help(*command)
    text = " ".join(capsys.readouterr().out.split())
    for field in dataclasses.fields(settings_type):
        if command[-1] == "deploy" and field.name == "format":
            continue
        assert settings.flag_of(field) in text, field.name
        assert " ".join(field.metadata["help"].split()) in text, field.name
    # With no flags, the settings are the dataclass's defaults.
    required = {"kfp": ["--serving-dir", SERVING], "deploy": ["--host", "http://kfp.example"]}
    args = cli.build_parser().parse_args([*command, *[a for c in command for a in required.get(c, [])]])
    fixed = {"serving_dir": SERVING} if settings_type is settings.KubeflowSettings else {}
    assert settings.from_args(settings_type, args) == settings_type(**fixed)


@pytest.mark.parametrize("field", SHARED, ids=lambda f: f.name)
def test_every_setting_reaches_the_compiled_kubeflow_spec(compiled, field):
    if field.name in TRAINING:
        found = json.loads(_task_parameter(compiled, "Trainer", "custom_config"))[field.name]
    else:
        found = LOCATIONS[field.name](compiled)
    assert found == pytest.approx(SAMPLES[field.name]) if isinstance(found, float) else found == SAMPLES[field.name]


def test_help_does_not_import_tensorflow():
    code = "import sys; from pipeline import cli; cli.build_parser(); print('tensorflow' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"


@pytest.mark.parametrize("args, message", [
    (["--epochs", "0"], "--epochs 0: must be 1 or more"),
    (["--batch-size", "0"], "--batch-size 0: must be 1 or more"),
    (["--eval-percent", "100"], "--eval-percent 100: must be between 1 and 99"),
    (["--min-accuracy", "1.5"], "--min-accuracy 1.5: must be between 0 and 1"),
    (["--max-regression", "-0.1"], "--max-regression -0.1: must be between 0 and 1"),
    (["--model-name", "../elsewhere"], "--model-name ../elsewhere: model name '../elsewhere' is not a plain name"),
    (["--model-name", "a/b"], "--model-name a/b: model name 'a/b' is not a plain name"),
])
@pytest.mark.parametrize("command", [["run"], ["kfp", "compile", "--serving-dir", SERVING]])
def test_a_bad_value_gets_one_line_naming_the_flag(capsys, command, args, message):
    assert cli.main([*command, *args]) == 2
    captured = capsys.readouterr()
    [line] = captured.err.strip().splitlines()
    assert line.startswith(f"catdog: error: {message}")


@pytest.mark.parametrize("package_format, gpu_type, message", [
    ("vertex-json", "nvidia.com/gpu", "--gpu-type nvidia.com/gpu: Vertex AI takes one of NVIDIA_TESLA_T4"),
    ("yaml", "NVIDIA_TESLA_T4", "--gpu-type NVIDIA_TESLA_T4: Kubeflow Pipelines takes a Kubernetes resource name"),
])
def test_gpu_type_must_fit_the_target(package_format, gpu_type, message):
    with pytest.raises(settings.SettingsError, match=message):
        settings.KubeflowSettings(format=package_format, gpu_type=gpu_type, serving_dir=SERVING)
    settings.KubeflowSettings(format=package_format, gpu_type=gpu_type, gpus=0, serving_dir=SERVING)  # no GPU: the type is unused


@pytest.mark.parametrize("package_format, gpu_type, expected", [
    ("yaml", "", "nvidia.com/gpu"),
    ("yaml", "amd.com/gpu", "amd.com/gpu"),
    ("vertex-json", "", "NVIDIA_TESLA_T4"),
    ("vertex-json", "NVIDIA_L4", "NVIDIA_L4"),
])
def test_gpu_type_defaults_to_the_targets_name(package_format, gpu_type, expected):
    kfp_settings = settings.KubeflowSettings(format=package_format, gpu_type=gpu_type, serving_dir=SERVING)
    assert kfp_settings.accelerator_type == expected


def test_compile_refuses_a_vertex_gpu_name_for_kfp_in_one_line(tmp_path):
    result = run_catdog("kfp", "compile", "--output", tmp_path / "p.yaml", "--serving-dir", SERVING,
                        "--gpu-type", "NVIDIA_TESLA_T4", timeout=120)
    assert result.returncode == 2 and not (tmp_path / "p.yaml").exists()
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("catdog: error: --gpu-type NVIDIA_TESLA_T4: Kubeflow Pipelines takes")
