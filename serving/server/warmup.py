"""Replays a version's warmup records (assets.extra/tf_serving_warmup_requests) before it serves, as
TF Serving does: a version is AVAILABLE only once warmed, and a record that fails fails the load."""

import grpc
import tensorflow as tf
from google.protobuf import message
from tensorflow_serving.apis import prediction_log_pb2

from components import files
from components.contract import warmup_path
from serving.status import ServingError

DEFAULT_SIGNATURE = tf.saved_model.DEFAULT_SERVING_SIGNATURE_DEF_KEY
# TF Serving reads no more than this many records.
MAX_WARMUP_RECORDS = 1000


def read_warmup_requests(model_dir: str) -> list[prediction_log_pb2.PredictionLog]:
    """The model's warmup records (one more than TF Serving reads, at most), none if it has no warmup file;
    ValueError if the file is damaged or not a regular file (a FIFO would block the load)."""
    path = warmup_path(model_dir)
    if not tf.io.gfile.exists(path):
        return []
    if "://" not in path:
        try:
            files.check_regular(path)
        except files.FileRefused as e:
            raise ValueError(str(e)) from e
    try:
        return [
            prediction_log_pb2.PredictionLog.FromString(record.numpy())
            for record in tf.data.TFRecordDataset(path).take(MAX_WARMUP_RECORDS + 1)
        ]
    except (tf.errors.OpError, message.DecodeError) as e:  # truncated record, bad checksum, not a PredictionLog
        raise ValueError(f"{path}: not a file of PredictionLog records: {e}") from e


def replay_warmup_requests(servable, model_dir: str) -> int:
    """Runs each warmup Predict request on the servable; returns how many ran."""
    try:
        logs = read_warmup_requests(model_dir)
    except ValueError as e:
        raise ServingError(grpc.StatusCode.DATA_LOSS, str(e)) from e
    if len(logs) > MAX_WARMUP_RECORDS:
        raise ServingError(
            grpc.StatusCode.INVALID_ARGUMENT,
            f"{warmup_path(model_dir)}: more than the {MAX_WARMUP_RECORDS} warmup records TF Serving reads",
        )
    for number, log in enumerate(logs):
        kind = log.WhichOneof("log_type")
        if kind is None:  # protobuf reads many damaged records as an empty message
            raise ServingError(
                grpc.StatusCode.DATA_LOSS, f"{warmup_path(model_dir)}: warmup record {number} is not a PredictionLog"
            )
        if kind != "predict_log":
            raise ServingError(
                grpc.StatusCode.UNIMPLEMENTED,
                f"warmup record {number} is a {kind}; catdog serve replays predict_log records",
            )
        request = log.predict_log.request
        inputs = {key: tf.constant(tf.make_ndarray(proto)) for key, proto in request.inputs.items()}
        try:
            servable.run(request.model_spec.signature_name or DEFAULT_SIGNATURE, inputs, request.output_filter)
        except ServingError as e:
            raise ServingError(e.code, f"warmup record {number} failed: {e.message}") from e
    return len(logs)
