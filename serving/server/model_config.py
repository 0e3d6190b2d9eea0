"""The models one server serves, from TF Serving's ModelServerConfig (--model_config_file, a protobuf text
file, or ModelService/HandleReloadConfigRequest): a ModelRegistry per model, each with its version policy
and labels. A new config is checked whole before anything changes (model_servers/server_core.cc
ReloadConfig), so a bad one leaves the old one serving."""

import logging
import os
import threading
from collections.abc import Callable, Mapping

import grpc
from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

from components.errors import CatdogError
from serving.server.model_registry import ModelRegistry, VersionStatus
from serving.server.servable import Servable
from serving.status import ServingError

log = logging.getLogger(__name__)

TENSORFLOW_PLATFORM = "tensorflow"
ModelServerConfig = model_server_config_pb2.ModelServerConfig


def _invalid(message: str) -> ServingError:
    return ServingError(grpc.StatusCode.INVALID_ARGUMENT, message)


def read_model_config(path: str) -> ModelServerConfig:
    """The file parsed and checked; a CatdogError naming the file and the problem otherwise."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read(1 << 20)  # a config of a thousand models is a few hundred KB
    except OSError as e:
        raise CatdogError(f"{path}: cannot read the model config: {e.strerror or e}") from e
    except UnicodeDecodeError as e:
        raise CatdogError(f"{path}: not a ModelServerConfig text proto: not UTF-8 text") from e
    try:
        config = text_format.Parse(text, ModelServerConfig())
    except text_format.ParseError as e:
        raise CatdogError(f"{path}: not a ModelServerConfig text proto: {e}") from e
    try:
        check_model_config(config)
    except ServingError as e:
        raise CatdogError(f"{path}: {e.message}") from e
    return config


def single_model_config(name: str, base_path: str) -> ModelServerConfig:
    """What --model_name and --model_base_path stand for (model_servers/server.cc BuildSingleModelConfig)."""
    config = ModelServerConfig()
    model = config.model_config_list.config.add(
        name=name, base_path=os.path.abspath(base_path), model_platform=TENSORFLOW_PLATFORM
    )
    model.model_version_policy.latest.num_versions = 1
    return config


def check_model_config(config: ModelServerConfig) -> None:
    """TF Serving's checks and messages (server_core.cc ValidateModelConfigList, GetPlatform,
    UpdateModelVersionLabelMap); a ServingError otherwise."""
    if config.WhichOneof("config") == "custom_model_config":
        raise _invalid(
            "ServerModelConfig type not supported by HandleReloadConfigRequest. Only ModelConfigList "
            "is currently supported"
        )
    names = set()
    for model in config.model_config_list.config:
        if model.name in names:
            raise _invalid(f"Illegal to list model {model.name} multiple times in config list")
        names.add(model.name)
        if not os.path.isabs(model.base_path):
            raise _invalid(
                f"Expected model {model.name} to have an absolute path or URI; got base_path()={model.base_path}"
            )
        if not model.model_platform:
            raise _invalid(
                "Illegal setting neither ModelServerConfig::model_type (deprecated) nor "
                f"ModelServerConfig::model_platform, model name is {model.name}"
            )
        if model.model_platform != TENSORFLOW_PLATFORM:
            raise _invalid(f"Model {model.name} requests unsupported platform {model.model_platform}")
        policy = model.model_version_policy
        if policy.WhichOneof("policy_choice") == "latest" and policy.latest.num_versions < 0:
            raise _invalid(f"model {model.name}: latest.num_versions must not be negative")


def _registry_options(model) -> dict:
    policy = model.model_version_policy
    choice = policy.WhichOneof("policy_choice")
    options = {"labels": dict(model.version_labels)}
    if choice == "all":
        options["all_versions"] = True
    elif choice == "specific":
        options["specific_versions"] = set(policy.specific.versions)
    else:  # TF Serving's default policy: the newest version
        options["num_versions"] = max(1, policy.latest.num_versions) if choice == "latest" else 1
    return options


class ServedModels:
    """The registries of the current config, by model name; what requests look their model up in."""

    def __init__(
        self, poll_seconds: float, load: Callable[[str], Servable] = Servable, registry_options: Mapping | None = None
    ):
        self._poll_seconds = poll_seconds
        self._load = load
        self._registry_options = dict(registry_options or {})
        self._lock = threading.Lock()  # one reload at a time
        self._registries: dict[str, ModelRegistry] = {}
        self._keys: dict[str, tuple] = {}  # what each registry was made from, to see what a new config changes

    @classmethod
    def of(cls, registry: ModelRegistry) -> "ServedModels":
        """One registry the caller already started."""
        models = cls(poll_seconds=registry.poll_seconds)
        models._registries = {registry.model_name: registry}
        return models

    def registries(self) -> dict[str, ModelRegistry]:
        return dict(self._registries)

    def apply(self, config: ModelServerConfig) -> None:
        """Starts serving the config: new and changed models load before this returns (as ServerCore waits
        for them), removed ones unload. A ServingError, nothing changed, if the config is refused."""
        check_model_config(config)
        with self._lock:
            wanted = {model.name: model for model in config.model_config_list.config}
            started: list[ModelRegistry] = []
            registries = {}
            for name, model in wanted.items():
                options = {**self._registry_options, **_registry_options(model)}
                key = (model.base_path, repr(sorted((k, repr(v)) for k, v in options.items())))
                if self._keys.get(name) == key:
                    registries[name] = self._registries[name]
                    continue
                registry = ModelRegistry(name, model.base_path, load=self._load, **options)
                try:
                    registry.start(self._poll_seconds)
                except (OSError, ValueError) as e:
                    for other in started:
                        other.stop()
                    raise _invalid(f"model {name}: {e}") from e
                started.append(registry)
                registries[name] = registry
                self._keys[name] = key
            removed = [r for name, r in self._registries.items() if registries.get(name) is not r]
            self._registries = registries
            self._keys = {name: self._keys[name] for name in registries}
        for registry in removed:
            registry.stop()
            log.info("stopped serving %s from %s", registry.model_name, registry.base_path)

    def stop(self) -> None:
        for registry in self._registries.values():
            registry.stop()

    # --- what requests see (server_core.cc ServableRequestFromModelSpec, get_model_status_impl.cc) ---

    def servable(self, model_name: str, version: int | None = None, label: str = "") -> tuple[int, Servable]:
        if not model_name:
            raise _invalid("ModelSpec has no name specified.")
        registry = self._registries.get(model_name)
        if registry is None:
            if label:
                raise _invalid(f"Unrecognized servable version label: {label}")
            wanted = f"Latest({model_name})" if version is None else f"Specific({model_name}, {version})"
            raise ServingError(grpc.StatusCode.NOT_FOUND, f"Servable not found for request: {wanted}")
        return registry.servable(model_name, version, label)

    def statuses(self, model_name: str, version: int | None = None) -> list[VersionStatus]:
        registry = self._registries.get(model_name)
        if registry is None:
            if version is not None:
                raise ServingError(grpc.StatusCode.NOT_FOUND, f"Could not find version {version} of model {model_name}")
            raise ServingError(grpc.StatusCode.NOT_FOUND, f"Could not find any versions of model {model_name}")
        return registry.statuses(model_name, version)
