"""DataGate: stops the run before Transform and the Trainer when ExampleValidator found anomalies.

ExampleValidator only records what does not match the schema; this component, downstream of it and
upstream of Transform, turns those findings into a stopped run (unless the run allows anomalies).
"""

import os

from absl import logging
from google.protobuf.message import DecodeError
from tensorflow_metadata.proto.v0 import anomalies_pb2
from tfx import types
from tfx.components.example_validator import executor as example_validator
from tfx.dsl.components.base import base_component, base_executor, executor_spec
from tfx.dsl.io import fileio
from tfx.types import artifact_utils, standard_artifacts
from tfx.types.component_spec import ChannelParameter, ExecutionParameter

from components.errors import CatdogError

ANOMALIES_KEY = "anomalies"
ALLOW_ANOMALIES_KEY = "allow_anomalies"


class DataValidationError(CatdogError):
    """The data does not match the schema it is held to."""


def read_anomalies(anomalies_uri: str) -> list[tuple[str, str, str]]:
    """(split, feature or "(dataset)", description) for each anomaly; [] when the data matched the schema."""
    found = []
    pattern = os.path.join(anomalies_uri, "Split-*", example_validator.DEFAULT_FILE_NAME)
    for path in sorted(fileio.glob(pattern)):
        split = os.path.basename(os.path.dirname(path))[len("Split-") :]
        anomalies = anomalies_pb2.Anomalies()
        try:
            with fileio.open(path, "rb") as f:
                anomalies.ParseFromString(f.read())
        except DecodeError as e:
            raise DataValidationError(f"{path}: not an Anomalies proto ({e})") from e
        for feature, info in sorted(anomalies.anomaly_info.items()):
            found.append((split, feature, info.description or info.short_description))
        if anomalies.HasField("dataset_anomaly_info"):
            info = anomalies.dataset_anomaly_info
            found.append((split, "(dataset)", info.description or info.short_description))
    return found


def check(found: list[tuple[str, str, str]], allow_anomalies: bool) -> None:
    if not found:
        return
    listed = "; ".join(f"{split} split, {feature}: {description}" for split, feature, description in found)
    if not allow_anomalies:
        raise DataValidationError(
            f"the data does not match the schema ({listed}); the run stopped before training. "
            "Fix the data, update the schema (--schema-file), or pass --allow-anomalies"
        )
    logging.warning("Training despite anomalies (--allow-anomalies): %s", listed)


class Executor(base_executor.BaseExecutor):
    def Do(self, input_dict, output_dict, exec_properties) -> None:
        anomalies = artifact_utils.get_single_instance(input_dict[ANOMALIES_KEY])
        check(read_anomalies(anomalies.uri), bool(exec_properties.get(ALLOW_ANOMALIES_KEY)))


class DataGateSpec(types.ComponentSpec):
    PARAMETERS = {ALLOW_ANOMALIES_KEY: ExecutionParameter(type=int)}
    INPUTS = {ANOMALIES_KEY: ChannelParameter(type=standard_artifacts.ExampleAnomalies)}
    OUTPUTS = {}


class DataGate(base_component.BaseComponent):
    """Fails when the anomalies are not empty; make Transform depend on it (add_upstream_node)."""

    SPEC_CLASS = DataGateSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)

    def __init__(self, anomalies: types.BaseChannel, allow_anomalies: bool):
        super().__init__(spec=DataGateSpec(anomalies=anomalies, allow_anomalies=int(allow_anomalies)))
