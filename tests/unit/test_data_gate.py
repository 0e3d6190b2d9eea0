"""The data gate: ExampleValidator's anomalies stop the run, unless the run allows them."""

import pytest
from tensorflow_metadata.proto.v0 import anomalies_pb2

from components import data_gate


def _write_anomalies(root, split, features):
    anomalies = anomalies_pb2.Anomalies()
    for name, description in features.items():
        anomalies.anomaly_info[name].description = description
    (root / f"Split-{split}").mkdir(parents=True)
    (root / f"Split-{split}" / "SchemaDiff.pb").write_bytes(anomalies.SerializeToString())


def test_anomalies_are_read_per_split_and_feature(tmp_path):
    _write_anomalies(tmp_path, "train", {})
    _write_anomalies(tmp_path, "eval", {"breed": "Column dropped"})
    assert data_gate.read_anomalies(str(tmp_path)) == [("eval", "breed", "Column dropped")]


def test_anomalies_stop_the_run_with_what_was_found():
    found = [("eval", "breed", "Column dropped")]
    with pytest.raises(data_gate.DataValidationError, match=r"eval split, breed: Column dropped.*--allow-anomalies"):
        data_gate.check(found, allow_anomalies=False)
    data_gate.check(found, allow_anomalies=True)  # logged, not raised
    data_gate.check([], allow_anomalies=False)


def test_a_file_that_is_not_an_anomalies_proto_is_named(tmp_path):
    (tmp_path / "Split-train").mkdir()
    (tmp_path / "Split-train" / "SchemaDiff.pb").write_bytes(b"\xff\xff not a proto")
    with pytest.raises(data_gate.DataValidationError, match="SchemaDiff.pb: not an Anomalies proto"):
        data_gate.read_anomalies(str(tmp_path))
