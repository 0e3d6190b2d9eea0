"""--model_config_file and HandleReloadConfigRequest's model list, with a stand-in loader (no TensorFlow):
TF Serving's ModelServerConfig, checks and version policies (model_servers/server_core.cc)."""

from pathlib import Path

import grpc
import pytest
from conftest import run_catdog
from google.protobuf import text_format
from test_serving_registry import FakeServable, add_version

from components.errors import CatdogError
from serving.server.model_config import ModelServerConfig, ServedModels, read_model_config
from serving.server.model_registry import VersionState
from serving.status import ServingError

DEPLOY_CONFIG = Path(__file__).resolve().parents[2] / "serving" / "deploy" / "models.config"


def config(text: str) -> ModelServerConfig:
    return text_format.Parse(text, ModelServerConfig())


def model(name: str, base: Path, policy: str = "", labels: str = "") -> str:
    return (
        f'config {{ name: "{name}" base_path: "{base}" model_platform: "tensorflow" '
        f"{policy and f'model_version_policy {{ {policy} }}'} {labels} }}"
    )


def models_config(*entries: str) -> ModelServerConfig:
    return config("model_config_list { " + " ".join(entries) + " }")


@pytest.fixture
def bases(tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    for base in (first, second):
        base.mkdir()
        for version in (1, 2, 3):
            add_version(base, version)
    return first, second


def available(models: ServedModels, name: str):
    return sorted(s.version for s in models.statuses(name) if s.state == VersionState.AVAILABLE)


def test_the_deploy_config_parses():
    parsed = read_model_config(str(DEPLOY_CONFIG))
    [catdog] = parsed.model_config_list.config
    assert (catdog.name, catdog.base_path, catdog.model_version_policy.latest.num_versions) == (
        "catdog",
        "/models/catdog",
        1,
    )


def test_serve_reads_the_deploy_config_and_names_what_is_missing():
    result = run_catdog("serve", "--model_config_file", DEPLOY_CONFIG, "--port", 0, "--rest-port", 0)
    assert result.returncode != 0
    assert "catdog: error:" in result.stderr and "/models/catdog" in result.stderr


@pytest.mark.parametrize(
    "text, words",
    [
        ("model_config_list { config { name: 1 } ", "not a ModelServerConfig text proto"),
        (
            'model_config_list { config { name: "a" base_path: "relative" model_platform: "tensorflow" } }',
            "Expected model a to have an absolute path or URI; got base_path()=relative",
        ),
        ('model_config_list { config { name: "a" base_path: "/x" } }', "nor ModelServerConfig::model_platform"),
        (
            'model_config_list { config { name: "a" base_path: "/x" model_platform: "tensorflow" } '
            'config { name: "a" base_path: "/y" model_platform: "tensorflow" } }',
            "Illegal to list model a multiple times",
        ),
    ],
)
def test_a_bad_file_is_one_error_naming_it(tmp_path, text, words):
    path = tmp_path / "models.config"
    path.write_text(text)
    with pytest.raises(CatdogError) as raised:
        read_model_config(str(path))
    assert str(raised.value).startswith(f"{path}: ") and words in str(raised.value)


def test_several_models_each_with_its_policy_and_labels(bases):
    first, second = bases
    models = ServedModels(poll_seconds=60, load=FakeServable)
    models.apply(
        models_config(
            model("latest", first),
            model("two", second, "specific { versions: 1 versions: 2 }", 'version_labels { key: "stable" value: 1 }'),
            model("all", first, "all {}"),
        )
    )
    try:
        assert available(models, "latest") == [3]
        assert available(models, "two") == [1, 2]
        assert available(models, "all") == [1, 2, 3]
        assert models.servable("two", label="stable")[0] == 1
        assert models.servable("two")[0] == 2
    finally:
        models.stop()


def test_a_reload_replaces_the_list_and_a_refused_one_changes_nothing(bases):
    first, second = bases
    models = ServedModels(poll_seconds=60, load=FakeServable)
    models.apply(models_config(model("a", first), model("b", second)))
    try:
        with pytest.raises(ServingError) as raised:
            models.apply(models_config(model("a", first), model("a", second)))
        assert raised.value.code == grpc.StatusCode.INVALID_ARGUMENT
        assert available(models, "b") == [3]
        models.apply(models_config(model("a", first)))
        with pytest.raises(ServingError) as raised:
            models.servable("b")
        assert raised.value.code == grpc.StatusCode.NOT_FOUND
        assert models.servable("a")[0] == 3
    finally:
        models.stop()


def test_an_empty_name_is_invalid_argument(bases):
    models = ServedModels(poll_seconds=60, load=FakeServable)
    with pytest.raises(ServingError) as raised:
        models.servable("")
    assert raised.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert raised.value.message == "ModelSpec has no name specified."
