"""Warmup: the exported model carries TF Serving's warmup file (valid PredictionLog records of real
images), and `catdog serve` replays it before a version is AVAILABLE; a version whose warmup fails is
not served, as in TF Serving."""

import shutil

import grpc
import pytest
import tensorflow as tf
from serving_fixtures import MODEL_NAME, push, served_copy
from tensorflow_serving.apis import predict_pb2, prediction_log_pb2

from components import contract
from components.contract import warmup_path
from serving.server.model_registry import ModelRegistry, VersionState
from serving.server.warmup import read_warmup_requests, replay_warmup_requests


def test_exported_model_has_valid_warmup_records_of_real_images(pipeline_run):
    logs = read_warmup_requests(str(pipeline_run.latest_model))
    signatures = {log.predict_log.request.model_spec.signature_name for log in logs}
    assert signatures == {contract.IMAGE_BYTES_SIGNATURE, contract.TF_EXAMPLE_SIGNATURE}
    batch_sizes = set()
    for log in logs:
        request = log.predict_log.request
        if request.model_spec.signature_name != contract.IMAGE_BYTES_SIGNATURE:
            continue
        images = tf.make_ndarray(request.inputs[contract.IMAGE_BYTES_INPUT])
        batch_sizes.add(len(images))
        for image in images:
            assert tf.io.decode_image(image, channels=3).shape[-1] == 3
    assert batch_sizes == {1, 3}


class CountingServable:
    def __init__(self):
        self.calls = []

    def run(self, name, inputs, output_filter=()):
        self.calls.append((name, sorted(inputs)))
        return {}


def test_replay_runs_every_record_on_its_signature(pipeline_run):
    servable = CountingServable()
    count = replay_warmup_requests(servable, str(pipeline_run.latest_model))
    assert count == len(servable.calls) == len(read_warmup_requests(str(pipeline_run.latest_model)))
    assert (contract.TF_EXAMPLE_SIGNATURE, [contract.TF_EXAMPLE_INPUT]) in servable.calls


def write_records(model_dir, logs):
    with tf.io.TFRecordWriter(warmup_path(str(model_dir))) as writer:
        for log in logs:
            writer.write(log if isinstance(log, bytes) else log.SerializeToString())


def not_an_image_request():
    request = predict_pb2.PredictRequest()
    request.inputs[contract.IMAGE_BYTES_INPUT].CopyFrom(tf.make_tensor_proto([b"not an image"], dtype=tf.string))
    return prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=request))


@pytest.mark.parametrize(
    "records, code, words",
    [
        ([not_an_image_request()], grpc.StatusCode.INVALID_ARGUMENT, "warmup record 0 failed"),
        ([b"\x00garbage"], grpc.StatusCode.DATA_LOSS, "PredictionLog"),
    ],
)
def test_a_version_whose_warmup_fails_is_not_served(pipeline_run, tmp_path, records, code, words):
    base_path = served_copy(pipeline_run.latest_model, tmp_path, 1)
    staging = tmp_path / "bad"
    shutil.copytree(pipeline_run.latest_model, staging)
    write_records(staging, records)
    push(staging, base_path, 2)
    registry = ModelRegistry(MODEL_NAME, str(base_path))
    registry.poll()
    [newest, previous] = registry.statuses(MODEL_NAME)
    assert (newest.version, newest.state, newest.error.code) == (2, VersionState.END, code)
    assert words in newest.error.message
    assert (previous.version, previous.state) == (1, VersionState.AVAILABLE)
    assert registry.servable(MODEL_NAME)[0] == 1
