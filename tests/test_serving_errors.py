"""Bad requests get TF Serving's status code and a message saying what is wrong, and the server
answers the next good request as usual."""

import grpc
import imagegen
import numpy as np
import pytest
import tensorflow as tf
from serving_fixtures import MODEL_NAME, local_server, served_copy
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)

from components import contract
from serving.client.grpc_client import PredictClient
from serving.server.grpc_server import start_server
from serving.server.model_registry import ModelRegistry
from serving.status import ServingError

VERSION = 3
MAX_MESSAGE_BYTES = 1024 * 1024
IMAGE = imagegen.image_bytes(0, (150, 150), "jpg")


@pytest.fixture(scope="module")
def target(pipeline_run, tmp_path_factory):
    base_path = served_copy(pipeline_run.latest_model, tmp_path_factory.mktemp("errors"), VERSION)
    with local_server(
        base_path, labels={"stable": VERSION, "canary": VERSION + 1}, max_message_bytes=MAX_MESSAGE_BYTES
    ) as (address, _):
        yield address


@pytest.fixture(scope="module")
def server(target):
    with grpc.insecure_channel(target) as channel:
        yield (
            prediction_service_pb2_grpc.PredictionServiceStub(channel),
            model_service_pb2_grpc.ModelServiceStub(channel),
        )


def predict_request(inputs=None, **model_spec) -> predict_pb2.PredictRequest:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = MODEL_NAME
    for field, value in model_spec.items():
        if field == "version":
            request.model_spec.version.value = value
        else:
            setattr(request.model_spec, field, value)
    if inputs is None:
        inputs = {contract.IMAGE_BYTES_INPUT: tf.make_tensor_proto([IMAGE], dtype=tf.string)}
    for key, proto in inputs.items():
        request.inputs[key].CopyFrom(proto)
    return request


def image_bytes_input(values, **kwargs):
    return {contract.IMAGE_BYTES_INPUT: tf.make_tensor_proto(values, **kwargs)}


BAD_REQUESTS = {
    "unknown model": (predict_request(name="no_such_model"), grpc.StatusCode.NOT_FOUND, "no_such_model"),
    "unknown version": (predict_request(version=VERSION + 100), grpc.StatusCode.NOT_FOUND, str(VERSION + 100)),
    "unknown label": (predict_request(version_label="beta"), grpc.StatusCode.INVALID_ARGUMENT, "label: beta"),
    # canary names a version the server does not have: the request names a version that is not there.
    "label of a missing version": (
        predict_request(version_label="canary"),
        grpc.StatusCode.NOT_FOUND,
        str(VERSION + 1),
    ),
    "unknown signature": (predict_request(signature_name="nope"), grpc.StatusCode.FAILED_PRECONDITION, "nope"),
    "wrong input name": (
        predict_request({"images": tf.make_tensor_proto([IMAGE], dtype=tf.string)}),
        grpc.StatusCode.INVALID_ARGUMENT,
        f"Signature input alias: {contract.IMAGE_BYTES_INPUT} not found in request",
    ),
    "no input": (predict_request({}), grpc.StatusCode.INVALID_ARGUMENT, contract.IMAGE_BYTES_INPUT),
    "wrong dtype": (
        predict_request(image_bytes_input(np.zeros([1], np.float32))),
        grpc.StatusCode.INVALID_ARGUMENT,
        "float",
    ),
    "not an image": (
        predict_request(image_bytes_input([IMAGE, b"plain text, no picture"], dtype=tf.string)),
        grpc.StatusCode.INVALID_ARGUMENT,
        "image file format",
    ),
    "empty batch": (
        predict_request(image_bytes_input(np.array([], dtype=object), dtype=tf.string)),
        grpc.StatusCode.INVALID_ARGUMENT,
        "empty batch",
    ),
    "unknown output": (
        predict_request(),  # output_filter set below
        grpc.StatusCode.INVALID_ARGUMENT,
        "no_such_output",
    ),
    "over the size cap": (
        predict_request(image_bytes_input([b"\0" * (MAX_MESSAGE_BYTES + 1)], dtype=tf.string)),
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        "",
    ),
}
BAD_REQUESTS["unknown output"][0].output_filter.append("no_such_output")


@pytest.mark.parametrize("case", list(BAD_REQUESTS))
def test_bad_predict_request_gets_its_status_and_server_goes_on(server, case):
    prediction, _ = server
    request, code, message = BAD_REQUESTS[case]
    with pytest.raises(grpc.RpcError) as raised:
        prediction.Predict(request, timeout=30)
    assert raised.value.code() == code, raised.value.details()
    assert message in raised.value.details()
    response = prediction.Predict(predict_request(), timeout=30)
    assert tf.make_ndarray(response.outputs[contract.PROBABILITY_OUTPUT]).shape == (1,)


@pytest.mark.parametrize("pin", [{"version": VERSION}, {"version_label": "stable"}])
def test_client_pinned_to_a_version_or_label_gets_that_version(target, pin):
    with PredictClient(target, MODEL_NAME, **pin) as client:
        assert client.predict_response([IMAGE]).model_spec.version.value == VERSION


def test_client_reports_the_servers_status_code(target):
    with PredictClient(target, MODEL_NAME, version=VERSION + 100) as client, pytest.raises(ServingError) as raised:
        client.predict([IMAGE])
    assert raised.value.code == grpc.StatusCode.NOT_FOUND


def test_output_filter_returns_only_the_outputs_asked_for(server):
    prediction, _ = server
    request = predict_request()
    request.output_filter.append(contract.CLASS_NAME_OUTPUT)
    assert list(prediction.Predict(request, timeout=30).outputs) == [contract.CLASS_NAME_OUTPUT]


@pytest.mark.parametrize("fields, message", [([], "at least one metadata_field"), (["weights"], "weights")])
def test_metadata_request_without_signature_def_field_is_invalid(server, fields, message):
    prediction, _ = server
    request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=fields)
    request.model_spec.name = MODEL_NAME
    with pytest.raises(grpc.RpcError) as raised:
        prediction.GetModelMetadata(request, timeout=30)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert message in raised.value.details()


@pytest.mark.parametrize("name, version", [("no_such_model", None), (MODEL_NAME, VERSION + 100)])
def test_status_of_an_unknown_model_or_version_is_not_found(server, name, version):
    _, model = server
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = name
    if version is not None:
        request.model_spec.version.value = version
    with pytest.raises(grpc.RpcError) as raised:
        model.GetModelStatus(request, timeout=30)
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND


def test_a_busy_port_is_refused(target, tmp_path):
    port = int(target.rsplit(":", 1)[1])
    with pytest.raises(OSError, match=f"cannot listen on 127.0.0.1:{port}"):
        start_server(ModelRegistry(MODEL_NAME, str(tmp_path)), "127.0.0.1", port)
