"""TF Serving's REST API from `catdog serve`: every endpoint and both request forms against the
pipeline's model, answers equal to gRPC's for the same images, TF Serving's HTTP codes for bad
requests, and the Prometheus metrics counting what was served."""

import base64
import re

import numpy as np
import pytest
import requests
import tensorflow as tf
from serving_fixtures import MODEL_NAME, local_servers, sample_images, served_copy

from components import contract
from serving.client.grpc_client import PredictClient
from serving.client.rest_client import RestPredictClient
from serving.status import ServingError

VERSION = 5


@pytest.fixture(scope="module")
def servers(pipeline_run, tmp_path_factory):
    base_path = served_copy(pipeline_run.latest_model, tmp_path_factory.mktemp("rest"), VERSION)
    with local_servers(base_path, labels={"stable": VERSION}) as servers:
        yield servers


@pytest.fixture(scope="module")
def images():
    return list(sample_images().values())


@pytest.fixture(scope="module")
def grpc_outputs(servers, images):
    """What gRPC answers for all the images in one request: {output name: array}."""
    with PredictClient(servers.target, MODEL_NAME) as client:
        response = client.predict_response(images)
    return {key: tf.make_ndarray(proto) for key, proto in response.outputs.items()}


def b64(data: bytes) -> dict:
    return {"b64": base64.b64encode(data).decode("ascii")}


def predict_url(servers, suffix=""):
    return f"{servers.rest_url}/v1/models/{MODEL_NAME}{suffix}:predict"


def assert_rows_equal_grpc(predictions, grpc_outputs):
    assert [row[contract.CLASS_NAME_OUTPUT] for row in predictions] == [
        name.decode() for name in grpc_outputs[contract.CLASS_NAME_OUTPUT]
    ]
    assert [row[contract.CLASS_ID_OUTPUT] for row in predictions] == list(grpc_outputs[contract.CLASS_ID_OUTPUT])
    # JSON carries the shortest decimal of each float32: read back, it is the same number gRPC sent.
    probabilities = np.array([row[contract.PROBABILITY_OUTPUT] for row in predictions], np.float32)
    np.testing.assert_array_equal(probabilities, grpc_outputs[contract.PROBABILITY_OUTPUT])


@pytest.mark.parametrize("form", ["bare b64", "named input"])
def test_row_form_answers_as_grpc_does(servers, images, grpc_outputs, form):
    instances = [b64(image) if form == "bare b64" else {contract.IMAGE_BYTES_INPUT: b64(image)} for image in images]
    response = requests.post(predict_url(servers), json={"instances": instances}, timeout=60)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == "application/json"
    assert_rows_equal_grpc(response.json()["predictions"], grpc_outputs)


@pytest.mark.parametrize("form", ["bare list", "named input"])
def test_columnar_form_answers_as_grpc_does(servers, images, grpc_outputs, form):
    values = [b64(image) for image in images]
    inputs = values if form == "bare list" else {contract.IMAGE_BYTES_INPUT: values}
    response = requests.post(predict_url(servers), json={"inputs": inputs}, timeout=60)
    assert response.status_code == 200, response.text
    outputs = response.json()["outputs"]
    assert set(outputs) == set(grpc_outputs)
    rows = [{key: outputs[key][i] for key in outputs} for i in range(len(images))]
    assert_rows_equal_grpc(rows, grpc_outputs)


def test_tf_example_signature_and_version_paths(servers, images, grpc_outputs):
    body = {"signature_name": contract.TF_EXAMPLE_SIGNATURE, "instances": [b64(contract.tf_example(i)) for i in images]}
    for suffix in ["", f"/versions/{VERSION}", "/labels/stable"]:
        response = requests.post(predict_url(servers, suffix), json=body, timeout=60)
        assert response.status_code == 200, response.text
        assert_rows_equal_grpc(response.json()["predictions"], grpc_outputs)


def test_rest_client_matches_grpc_client(servers, images):
    with RestPredictClient(servers.rest_url, MODEL_NAME) as rest, PredictClient(servers.target, MODEL_NAME) as grpc_:
        assert rest.predict(images) == grpc_.predict(images)


@pytest.mark.parametrize("suffix", ["", f"/versions/{VERSION}", "/labels/stable"])
def test_model_status(servers, suffix):
    response = requests.get(f"{servers.rest_url}/v1/models/{MODEL_NAME}{suffix}", timeout=30)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "model_version_status": [
            {"version": str(VERSION), "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}
        ]
    }


def test_model_metadata(servers):
    response = requests.get(f"{servers.rest_url}/v1/models/{MODEL_NAME}/metadata", timeout=30)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model_spec"] == {"name": MODEL_NAME, "signature_name": "", "version": str(VERSION)}
    signatures = body["metadata"]["signature_def"]["signature_def"]
    default = signatures[contract.IMAGE_BYTES_SIGNATURE]
    assert default["inputs"][contract.IMAGE_BYTES_INPUT]["dtype"] == "DT_STRING"
    assert set(default["outputs"]) == {
        contract.PROBABILITY_OUTPUT,
        contract.CLASS_ID_OUTPUT,
        contract.CLASS_NAME_OUTPUT,
        contract.OOD_SCORE_OUTPUT,
        contract.IN_DISTRIBUTION_OUTPUT,
    }
    assert default["method_name"] == "tensorflow/serving/predict"


IMAGE = sample_images()["0-150x150.jpg"]
# (method, path after the server, body, TF Serving's HTTP status, words of the error)
BAD_REQUESTS = {
    "unknown model": ("POST", "/v1/models/nope:predict", {"instances": [b64(IMAGE)]}, 404, "nope"),
    "unknown version": (
        "POST",
        f"/v1/models/{MODEL_NAME}/versions/999:predict",
        {"instances": [b64(IMAGE)]},
        404,
        "999",
    ),
    "unknown label": ("POST", f"/v1/models/{MODEL_NAME}/labels/beta:predict", {"instances": [b64(IMAGE)]}, 400, "beta"),
    "unknown signature": (
        "POST",
        f"/v1/models/{MODEL_NAME}:predict",
        {"signature_name": "nope", "instances": [b64(IMAGE)]},
        400,
        '"nope" not found',
    ),
    "wrong input key": (
        "POST",
        f"/v1/models/{MODEL_NAME}:predict",
        {"instances": [{"images": b64(IMAGE)}]},
        400,
        "images",
    ),
    "not an image": (
        "POST",
        f"/v1/models/{MODEL_NAME}:predict",
        {"instances": [b64(b"plain text")]},
        400,
        "image file format",
    ),
    "not base64": ("POST", f"/v1/models/{MODEL_NAME}:predict", {"instances": [{"b64": "***"}]}, 400, "base64"),
    "number for a string": ("POST", f"/v1/models/{MODEL_NAME}:predict", {"instances": [3]}, 400, "string"),
    "neither instances nor inputs": ("POST", f"/v1/models/{MODEL_NAME}:predict", {"x": 1}, 400, "instances"),
    "both instances and inputs": (
        "POST",
        f"/v1/models/{MODEL_NAME}:predict",
        {"instances": [b64(IMAGE)], "inputs": [b64(IMAGE)]},
        400,
        "only one",
    ),
    "not JSON": ("POST", f"/v1/models/{MODEL_NAME}:predict", "{not json", 400, "JSON Parse error"),
    "malformed path": ("POST", "/v1/modelz/catdog:predict", {"instances": [b64(IMAGE)]}, 400, "Malformed request"),
    "status of an unknown model": ("GET", "/v1/models/nope", None, 404, "nope"),
    "status of an unknown version": ("GET", f"/v1/models/{MODEL_NAME}/versions/999", None, 404, "999"),
    "metadata of an unknown version": ("GET", f"/v1/models/{MODEL_NAME}/versions/999/metadata", None, 404, "999"),
}


@pytest.mark.parametrize("case", list(BAD_REQUESTS))
def test_bad_request_gets_tf_servings_status_and_server_goes_on(servers, case):
    method, path, body, status, words = BAD_REQUESTS[case]
    kwargs = {"data": body} if isinstance(body, str) else {"json": body}
    response = requests.request(method, servers.rest_url + path, timeout=30, **kwargs)
    assert response.status_code == status, response.text
    assert words in response.json()["error"]
    good = requests.post(predict_url(servers), json={"instances": [b64(IMAGE)]}, timeout=30)
    assert good.status_code == 200


def test_rest_client_raises_the_status_code(servers):
    with RestPredictClient(servers.rest_url, MODEL_NAME, version=999) as client, pytest.raises(ServingError) as raised:
        client.predict([IMAGE])
    assert raised.value.code.name == "NOT_FOUND"


def metric(text: str, name: str, **labels) -> float:
    """A sample's value in Prometheus text, 0 if absent."""
    for line in text.splitlines():
        match = re.fullmatch(rf"{re.escape(name)}\{{(.*)\}} (\S+)", line)
        if match and all(f'{k}="{v}"' in match.group(1) for k, v in labels.items()):
            return float(match.group(2))
    return 0.0


def test_metrics_count_what_was_served(servers):
    url = f"{servers.rest_url}/monitoring/prometheus/metrics"
    before = requests.get(url, timeout=30).text
    for _ in range(3):
        assert requests.post(predict_url(servers), json={"instances": [b64(IMAGE)]}, timeout=30).status_code == 200
    assert requests.post(predict_url(servers), json={"instances": [b64(b"x")]}, timeout=30).status_code == 400
    with PredictClient(servers.target, MODEL_NAME) as client:
        client.predict([IMAGE, IMAGE])
    response = requests.get(url, timeout=30)
    assert response.status_code == 200
    after = response.text

    def grew(name, **labels):
        return metric(after, name, **labels) - metric(before, name, **labels)

    assert grew(":tensorflow:serving:request_count", model_name=MODEL_NAME, status="OK") == 4
    assert grew(":tensorflow:serving:request_count", model_name=MODEL_NAME, status="INVALID_ARGUMENT") == 1
    # TF Serving times the successful requests only, under its transports' names: the REST method, gRPC's RPC.
    assert grew(":tensorflow:serving:request_latency_count", entrypoint="REST", API="predict") == 3
    assert grew(":tensorflow:serving:request_latency_count", entrypoint="GRPC", API="Predict") == 1
    assert "# TYPE :tensorflow:serving:request_count counter" in after
    assert metric(after, "catdog_model_version_state", version=str(VERSION), state="AVAILABLE") == 1
    assert metric(after, ":tensorflow:cc:saved_model:load_attempt_count", status="success") == 1
