"""`catdog serve` takes tensorflow_model_server's flag spellings beside its own (model_servers/main.cc), so the
same command line or k8s args start either server; the flags that have no counterpart are refused by name."""

import pytest
import yaml
from test_serving_deploy import DEPLOY

from cli import main as cli
from components import settings_core
from serving.settings import TF_SERVING_FLAGS_NOT_SUPPORTED, ServeSettings


def serve_settings(*args) -> ServeSettings:
    return settings_core.from_args(ServeSettings, cli.build_parser().parse_args(["serve", *args]))


def test_tf_servings_spellings_set_the_same_settings():
    tf_serving = serve_settings(
        "--port=9000",
        "--rest_api_port=9001",
        "--model_name=pets",
        "--model_base_path=/m/pets",
        "--enable_batching=true",
        "--batching_parameters_file=/c/b.txt",
        "--file_system_poll_wait_seconds=10",
    )
    ours = serve_settings(
        "--port",
        "9000",
        "--rest-port",
        "9001",
        "--model-name",
        "pets",
        "--model-base-path",
        "/m/pets",
        "--enable-batching",
        "--batching-parameters-file",
        "/c/b.txt",
        "--poll-seconds",
        "10",
    )
    assert tf_serving == ours


@pytest.mark.parametrize("value, expected", [("", True), ("=true", True), ("=1", True), ("=false", False)])
def test_a_tf_serving_boolean_takes_a_value(value, expected):
    assert serve_settings(f"--enable_batching{value}").enable_batching is expected


def test_the_k8s_args_parse():
    documents = list(yaml.safe_load_all((DEPLOY / "k8s.yaml").read_text()))
    container = next(d for d in documents if d and d["kind"] == "Deployment")["spec"]["template"]["spec"]["containers"][
        0
    ]
    settings = serve_settings(*container["args"])
    assert settings.model_config_file == "/config/models.config" and settings.enable_batching
    assert settings.monitoring_config_file == "/config/monitoring.config"


@pytest.mark.parametrize("flag", sorted(TF_SERVING_FLAGS_NOT_SUPPORTED)[:5] + ["--ssl_config_file"])
def test_a_tf_serving_flag_without_a_counterpart_is_refused_by_name(capsys, flag):
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["serve", f"{flag}=x"])
    error = capsys.readouterr().err
    assert flag in error and "not supported by catdog serve" in error


def test_a_config_file_and_a_base_path_together_are_one_error():
    with pytest.raises(settings_core.SettingsError, match="not both"):
        serve_settings("--model_config_file=/c/models.config", "--model_base_path=/m")
