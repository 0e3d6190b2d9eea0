"""ExampleValidator's findings: data that does not match the schema inferred from the statistics."""

import glob
import os
from typing import List, Tuple

from google.protobuf.message import DecodeError
from tensorflow_metadata.proto.v0 import anomalies_pb2
from tfx.components.example_validator import executor as example_validator

from insight.errors import InsightError


def read_anomalies(anomalies_uri: str) -> List[Tuple[str, str, str]]:
    """(split, feature or "(dataset)", description) for each anomaly; [] when the data matched the schema."""
    found = []
    for path in sorted(glob.glob(os.path.join(anomalies_uri, "Split-*", example_validator.DEFAULT_FILE_NAME))):
        split = os.path.basename(os.path.dirname(path))[len("Split-"):]
        anomalies = anomalies_pb2.Anomalies()
        try:
            with open(path, "rb") as f:
                anomalies.ParseFromString(f.read())
        except DecodeError as e:
            raise InsightError(f"{path}: not an Anomalies proto ({e})") from e
        for feature, info in sorted(anomalies.anomaly_info.items()):
            found.append((split, feature, info.description or info.short_description))
        if anomalies.HasField("dataset_anomaly_info"):
            info = anomalies.dataset_anomaly_info
            found.append((split, "(dataset)", info.description or info.short_description))
    return found
