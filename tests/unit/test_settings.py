"""Settings declared once (components/settings_core.py): every one is a flag of its command with its default
and help; bad values get one line; the Kubeflow GPU type fits the target."""

import dataclasses
import subprocess
import sys

import pytest
from conftest import run_catdog

from cli import kfp, predict, report, score
from cli import main as cli
from components import settings_core
from pipeline import settings
from serving.settings import ServeSettings

SHARED = [f for f in dataclasses.fields(settings.RunSettings)]
ROOT = "gs://catdog-test/root"
SERVING = "gs://catdog-test/serving"


def _help(*command) -> None:
    parser = cli.build_parser()
    with pytest.raises(SystemExit):
        parser.parse_args([*command, "--help"])


# Every command and the settings types its flags are made from; the arguments it needs to parse at all.
COMMANDS = [
    (["run"], [settings.LocalRunSettings], []),
    (["kfp", "compile"], [settings.KubeflowSettings], ["--serving-dir", SERVING]),
    (
        ["kfp", "deploy"],
        [kfp.DeploySettings, settings.KubeflowSettings],
        ["--serving-dir", SERVING, "--host", "http://kfp.example"],
    ),
    (["serve"], [ServeSettings], []),
    (["predict"], [predict.PredictSettings], ["cat.jpg"]),
    (["score"], [score.ScoreSettings], ["pets.zip", "--model", "runs/catdog/serving/catdog"]),
    (["inspect-data"], [report.InspectDataSettings], []),
    (["visualize"], [report.VisualizeSettings], ["cat.jpg"]),
    (["report"], [report.ReportSettings], []),
]


@pytest.mark.parametrize("command, settings_types, required", COMMANDS, ids=[" ".join(c[0]) for c in COMMANDS])
def test_every_setting_is_a_flag_with_its_default_and_help(capsys, monkeypatch, command, settings_types, required):
    monkeypatch.setenv("COLUMNS", "10000")  # argparse wraps at hyphens, inside a default
    _help(*command)
    text = " ".join(capsys.readouterr().out.split())
    for settings_type in settings_types:
        for field in dataclasses.fields(settings_type):
            if command[-1] == "deploy" and field.name == "format":
                continue
            name = field.metadata["metavar"] if field.metadata["positional"] else settings_core.flag_of(field)
            assert name in text, field.name
            assert " ".join(field.metadata["help"].split()) in text, field.name
            default = field.metadata["shown_default"] or field.default
            if default not in ("", None, ()) and field.type is not bool:
                assert f"(default: {default})" in text, field.name
    # With no flags, the settings are the dataclass's defaults.
    args = cli.build_parser().parse_args([*command, *required])
    for settings_type in settings_types:
        parsed = settings_core.from_args(settings_type, args)
        given = {
            f.name: getattr(parsed, f.name)
            for f in dataclasses.fields(settings_type)
            if getattr(parsed, f.name) != f.default
        }
        assert set(given) <= {"serving_dir", "host", "images", "data", "model", "image"}, given


def test_help_does_not_import_tensorflow():
    code = "import sys; from cli import main; main.build_parser(); print('tensorflow' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"


@pytest.mark.parametrize(
    "args, message",
    [
        (["--epochs", "0"], "--epochs 0: must be between 1 and 10000"),
        (["--batch-size", "0"], "--batch-size 0: must be between 1 and 4096"),
        (["--eval-percent", "100"], "--eval-percent 100: must be between 1 and 99"),
        (["--min-accuracy", "1.5"], "--min-accuracy 1.5: must be between 0 and 1"),
        (["--max-regression", "-0.1"], "--max-regression -0.1: must be between 0 and 1"),
        (["--model-name", "../elsewhere"], "--model-name ../elsewhere: model name '../elsewhere' is not a plain name"),
        (["--model-name", "a/b"], "--model-name a/b: model name 'a/b' is not a plain name"),
    ],
)
@pytest.mark.parametrize("command", [["run"], ["kfp", "compile", "--serving-dir", SERVING]])
def test_a_bad_value_gets_one_line_naming_the_flag(capsys, command, args, message):
    assert cli.main([*command, *args]) == 2
    captured = capsys.readouterr()
    [line] = captured.err.strip().splitlines()
    assert line.startswith(f"catdog: error: {message}")


@pytest.mark.parametrize(
    "package_format, gpu_type, message",
    [
        ("vertex-json", "nvidia.com/gpu", "--gpu-type nvidia.com/gpu: Vertex AI takes one of NVIDIA_TESLA_T4"),
        ("yaml", "NVIDIA_TESLA_T4", "--gpu-type NVIDIA_TESLA_T4: Kubeflow Pipelines takes a Kubernetes resource name"),
    ],
)
def test_gpu_type_must_fit_the_target(package_format, gpu_type, message):
    with pytest.raises(settings_core.SettingsError, match=message):
        settings.KubeflowSettings(format=package_format, gpu_type=gpu_type, serving_dir=SERVING)
    settings.KubeflowSettings(
        format=package_format, gpu_type=gpu_type, gpus=0, serving_dir=SERVING
    )  # no GPU: the type is unused


@pytest.mark.parametrize(
    "package_format, gpu_type, expected",
    [
        ("yaml", "", "nvidia.com/gpu"),
        ("yaml", "amd.com/gpu", "amd.com/gpu"),
        ("vertex-json", "", "NVIDIA_TESLA_T4"),
        ("vertex-json", "NVIDIA_L4", "NVIDIA_L4"),
    ],
)
def test_gpu_type_defaults_to_the_targets_name(package_format, gpu_type, expected):
    kfp_settings = settings.KubeflowSettings(format=package_format, gpu_type=gpu_type, serving_dir=SERVING)
    assert kfp_settings.accelerator_type == expected


def test_compile_refuses_a_vertex_gpu_name_for_kfp_in_one_line(tmp_path):
    result = run_catdog(
        "kfp",
        "compile",
        "--output",
        tmp_path / "p.yaml",
        "--serving-dir",
        SERVING,
        "--gpu-type",
        "NVIDIA_TESLA_T4",
        timeout=120,
    )
    assert result.returncode == 2 and not (tmp_path / "p.yaml").exists()
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("catdog: error: --gpu-type NVIDIA_TESLA_T4: Kubeflow Pipelines takes")
