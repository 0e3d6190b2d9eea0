"""The pipeline's model served over gRPC answers exactly as the SavedModel does in process; the same
client works against `catdog serve` and, when installed, TF Serving itself."""

import grpc
import pytest
from serving_fixtures import (
    AVAILABLE,
    MODEL_NAME,
    local_server,
    reference_predictions,
    sample_images,
    served_copy,
    tf_serving,
)
from tensorflow.core.framework import types_pb2
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_service_pb2_grpc,
    prediction_service_pb2_grpc,
)

from components import contract
from serving.client.grpc_client import PredictClient

VERSION = 7


@pytest.fixture(scope="module")
def base_path(pipeline_run, tmp_path_factory):
    return served_copy(pipeline_run.latest_model, tmp_path_factory.mktemp("round_trip"), VERSION)


@pytest.fixture(scope="module")
def images():
    return sample_images()


@pytest.fixture(scope="module")
def expected(base_path, images):
    return reference_predictions(base_path / str(VERSION), list(images.values()))


@pytest.fixture(scope="module", params=["catdog serve", "tensorflow_model_server"])
def target(request, base_path, tmp_path_factory):
    if request.param == "catdog serve":
        with local_server(base_path) as (address, _):
            yield address
    else:
        with tf_serving(base_path, tmp_path_factory.mktemp("tf_serving")) as address:
            yield address


def assert_same_predictions(got, expected):
    assert [g["class_name"] for g in got] == [e["class_name"] for e in expected]
    for g, e in zip(got, expected):
        assert g["probability"] == pytest.approx(e["probability"], abs=1e-6)


@pytest.mark.parametrize("signature", [contract.IMAGE_BYTES_SIGNATURE, contract.TF_EXAMPLE_SIGNATURE])
def test_client_answers_as_the_saved_model_does(target, images, expected, signature):
    with PredictClient(target, MODEL_NAME, signature) as client:
        assert_same_predictions(client.predict(list(images.values())), expected)
        # One image a request, too: batching on the server must not change an answer.
        one_by_one = [client.predict([image])[0] for image in images.values()]
    assert_same_predictions(one_by_one, expected)


def test_reference_answers_differ_between_images(expected):
    # Otherwise the comparisons above could pass with a model that answers one class for everything.
    assert len({round(e["probability"], 3) for e in expected}) > 1


def test_response_names_the_version_that_answered(target, images):
    with PredictClient(target, MODEL_NAME) as client:
        response = client.predict_response([images["0-150x150.jpg"]])
    assert response.model_spec.name == MODEL_NAME
    assert response.model_spec.version.value == VERSION
    assert response.model_spec.signature_name == contract.IMAGE_BYTES_SIGNATURE


def test_model_metadata_lists_the_exported_signatures(target):
    request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
    request.model_spec.name = MODEL_NAME
    with grpc.insecure_channel(target) as channel:
        response = prediction_service_pb2_grpc.PredictionServiceStub(channel).GetModelMetadata(request, timeout=30)
    signature_defs = get_model_metadata_pb2.SignatureDefMap()
    assert response.metadata["signature_def"].Unpack(signature_defs)
    signatures = signature_defs.signature_def
    exported = {contract.IMAGE_BYTES_SIGNATURE, contract.TF_EXAMPLE_SIGNATURE, contract.TRANSFORM_SIGNATURE}
    assert exported <= set(signatures)
    default = signatures[contract.IMAGE_BYTES_SIGNATURE]
    assert list(default.inputs) == [contract.IMAGE_BYTES_INPUT]
    assert default.inputs[contract.IMAGE_BYTES_INPUT].dtype == types_pb2.DT_STRING
    assert set(default.outputs) == {
        contract.PROBABILITY_OUTPUT,
        contract.CLASS_ID_OUTPUT,
        contract.CLASS_NAME_OUTPUT,
        contract.OOD_SCORE_OUTPUT,
        contract.IN_DISTRIBUTION_OUTPUT,
    }
    assert list(signatures[contract.TRANSFORM_SIGNATURE].outputs) == [contract.TRANSFORMED_IMAGE_OUTPUT]
    assert response.model_spec.version.value == VERSION


def test_model_status_shows_the_version_available(target):
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = MODEL_NAME
    with grpc.insecure_channel(target) as channel:
        response = model_service_pb2_grpc.ModelServiceStub(channel).GetModelStatus(request, timeout=30)
    [status] = response.model_version_status
    assert (status.version, status.state, status.status.error_code) == (VERSION, AVAILABLE, 0)
