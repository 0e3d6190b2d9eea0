"""TF Serving 2.16's behaviour, case by case, checked over the wire against a running server.

Each case names the TF Serving source (github.com/tensorflow/serving at tag 2.16.1, paths under
tensorflow_serving/) that shows the behaviour it checks, and raises AssertionError where the server differs.
The cases talk only gRPC and HTTP, so the same cases run against `catdog serve` (tests/test_tfs_conformance.py,
bench/tfs_conformance.py) and against tensorflow_model_server where it is installed.

`Served` says where the server is and which model it serves: a model exported by components/exporter.py
(serving_default takes encoded images as `image_bytes`; `classification` takes tf.Examples). `ConfigServed`
is a server started with a --model_config_file of two models."""

import base64
import contextlib
import dataclasses
import gzip
import json
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable

import grpc
import numpy as np
import requests
import tensorflow as tf
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    inference_pb2,
    model_management_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
    regression_pb2,
)
from tensorflow_serving.config import model_server_config_pb2

IMAGE_INPUT = "image_bytes"
IMAGE_FEATURE = "image_raw"  # the tf.Example feature holding the encoded image (components/contract.py)
OUTPUTS = {"class_id", "class_name", "probability", "ood_score", "in_distribution"}
CLASSIFICATION = "classification"
TIMEOUT = 60


@dataclasses.dataclass
class Served:
    grpc_target: str
    rest_url: str
    model: str
    version: int
    images: list[bytes]  # at least two encoded images
    class_names: list[str]

    def __post_init__(self):
        self.channel = grpc.insecure_channel(
            self.grpc_target,
            options=[("grpc.max_receive_message_length", 64 << 20), ("grpc.max_send_message_length", 64 << 20)],
        )
        self.predict_stub = prediction_service_pb2_grpc.PredictionServiceStub(self.channel)
        self.model_stub = model_service_pb2_grpc.ModelServiceStub(self.channel)

    def close(self):
        self.channel.close()

    def url(self, path: str) -> str:
        return self.rest_url + path

    def predict_url(self, model: str | None = None, verb: str = "predict") -> str:
        return self.url(f"/v1/models/{model or self.model}:{verb}")

    def metrics(self) -> str:
        return requests.get(self.url("/monitoring/prometheus/metrics"), timeout=TIMEOUT).text


@dataclasses.dataclass
class Case:
    name: str
    source: str  # the TF Serving file (and function) that shows the behaviour
    run: Callable[[Served], None]
    needs: str = "model"  # "model" or "config"


CASES: list[Case] = []


def case(source: str, needs: str = "model"):
    def register(function):
        CASES.append(Case(function.__name__, source, function, needs))
        return function

    return register


# --- helpers -------------------------------------------------------------------------------------------------


def b64(data: bytes) -> dict:
    return {"b64": base64.b64encode(data).decode("ascii")}


def image_request(s: Served, values, shape=None, **spec) -> predict_pb2.PredictRequest:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = spec.pop("name", s.model)
    for key, value in spec.items():
        if key == "version":
            request.model_spec.version.value = value
        else:
            setattr(request.model_spec, key, value)
    request.inputs[IMAGE_INPUT].CopyFrom(tf.make_tensor_proto(values, dtype=tf.string, shape=shape))
    return request


def rpc_error(call, request) -> grpc.RpcError:
    try:
        call(request, timeout=TIMEOUT)
    except grpc.RpcError as e:
        return e
    raise AssertionError(f"{request.__class__.__name__} succeeded; an error was expected")


def assert_code(call, request, code: grpc.StatusCode, message: str = "") -> None:
    error = rpc_error(call, request)
    assert error.code() == code, f"got {error.code().name}: {error.details()}; expected {code.name}"
    assert message in error.details(), f"message {error.details()!r} lacks {message!r}"


def post(s: Served, body, url: str | None = None, **kwargs) -> requests.Response:
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return requests.post(url or s.predict_url(), data=data, timeout=TIMEOUT, **kwargs)


def assert_status(response: requests.Response, status: int, message: str = "", json_error: bool = True) -> None:
    assert response.status_code == status, f"HTTP {response.status_code} {response.text[:300]}; expected {status}"
    if json_error and status != 200:
        error = response.json().get("error")
        assert isinstance(error, str), f"no {{'error': ...}} in {response.text[:300]}"
        assert message in error, f"error {error!r} lacks {message!r}"


def example(image: bytes) -> bytes:
    feature = tf.train.Feature(bytes_list=tf.train.BytesList(value=[image]))
    return tf.train.Example(features=tf.train.Features(feature={IMAGE_FEATURE: feature})).SerializeToString()


def write_decimal(value: float) -> str:
    """util/json_tensor.cc WriteDecimal for a float: absl::StrCat (six digits) if it reads back as the same
    float, else %.9g (max_digits10); '.0' appended to whole numbers."""
    value = np.float32(value)
    if np.isnan(value):
        return "NaN"
    if np.isinf(value):
        return "-Infinity" if value < 0 else "Infinity"
    text = f"{value:g}"
    if np.float32(text) != value:
        text = f"{value:.9g}"
    if "." not in text and "e" not in text:
        text += ".0"
    return text


def grpc_probabilities(s: Served, images) -> list[float]:
    response = s.predict_stub.Predict(image_request(s, images), timeout=TIMEOUT)
    return list(tf.make_ndarray(response.outputs["probability"]))


def metric_value(text: str, name: str, **labels) -> float:
    """The sample of name whose labels include these (0 if none)."""
    total = 0.0
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name + "{"):
            continue
        found = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', line[len(name) : line.rindex("}")]))
        if all(found.get(k) == str(v) for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


# --- gRPC Predict: outputs -----------------------------------------------------------------------------------


@case("servables/tensorflow/predict_util.cc PostProcessPredictionResult: Tensor::AsProtoField by default")
def grpc_batch_outputs_in_typed_fields(s):
    response = s.predict_stub.Predict(image_request(s, s.images[:2]), timeout=TIMEOUT)
    assert len(response.outputs["probability"].float_val) == 2, response.outputs["probability"]
    assert len(response.outputs["class_id"].int64_val) == 2, response.outputs["class_id"]
    assert len(response.outputs["class_name"].string_val) == 2
    assert not any(response.outputs[k].tensor_content for k in OUTPUTS), "tensor_content is set"


@case("servables/tensorflow/predict_util.cc PostProcessPredictionResult: AsProtoField, one image")
def grpc_single_output_in_typed_fields(s):
    response = s.predict_stub.Predict(image_request(s, s.images[:1]), timeout=TIMEOUT)
    assert len(response.outputs["probability"].float_val) == 1
    assert [d.size for d in response.outputs["probability"].tensor_shape.dim] == [1]
    assert response.outputs["probability"].dtype == tf.float32.as_datatype_enum


@case("servables/tensorflow/predict_util.cc RunPredict: MakeModelSpec(name, resolved signature, version)")
def grpc_response_model_spec(s):
    response = s.predict_stub.Predict(image_request(s, s.images[:1]), timeout=TIMEOUT)
    assert response.model_spec.name == s.model
    assert response.model_spec.signature_name == "serving_default"
    assert response.model_spec.version.value == s.version


@case("servables/tensorflow/predict_util.cc PreProcessPrediction: output_filter picks the outputs")
def grpc_output_filter(s):
    request = image_request(s, s.images[:1])
    request.output_filter.append("probability")
    assert set(s.predict_stub.Predict(request, timeout=TIMEOUT).outputs) == {"probability"}


@case("servables/tensorflow/predict_util.cc PreProcessPrediction: 'output tensor alias not found in signature'")
def grpc_output_filter_unknown(s):
    request = image_request(s, s.images[:1])
    request.output_filter.append("nope")
    assert_code(
        s.predict_stub.Predict,
        request,
        grpc.StatusCode.INVALID_ARGUMENT,
        "output tensor alias not found in signature: nope",
    )


@case("servables/tensorflow/predict_util.cc PreProcessPrediction: 'duplicate output tensor alias'")
def grpc_output_filter_duplicate(s):
    request = image_request(s, s.images[:1])
    request.output_filter.extend(["probability", "probability"])
    assert_code(
        s.predict_stub.Predict, request, grpc.StatusCode.INVALID_ARGUMENT, "duplicate output tensor alias: probability"
    )


# --- gRPC Predict: inputs (GetInputValues / Tensor::FromProto, no shape check) --------------------------------


@case(
    "example/resnet_client_grpc.py (MODEL_ACCEPT_JPG): tf.make_tensor_proto(data), a scalar string; "
    "tensorflow/cc/saved_model/util.cc GetInputValues checks no shape"
)
def grpc_scalar_string_input(s):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = s.model
    request.model_spec.signature_name = "serving_default"
    request.inputs[IMAGE_INPUT].CopyFrom(tf.make_tensor_proto(s.images[0]))
    result = s.predict_stub.Predict(request, timeout=TIMEOUT).outputs["probability"].float_val
    assert len(result) == 1
    assert abs(result[0] - grpc_probabilities(s, s.images[:1])[0]) < 1e-6


@case("tensorflow/cc/saved_model/util.cc GetInputValues: an [N, 1] tensor runs as the graph takes it")
def grpc_column_input(s):
    response = s.predict_stub.Predict(image_request(s, [[s.images[0]], [s.images[1]]]), timeout=TIMEOUT)
    assert len(response.outputs["probability"].float_val) == 2


@case("Tensor::FromProto (tensorflow/core/framework/tensor.cc): fewer string_val than the shape holds repeats the last")
def grpc_short_values_fill_the_shape(s):
    response = s.predict_stub.Predict(image_request(s, [s.images[0]], shape=[2]), timeout=TIMEOUT)
    values = list(response.outputs["probability"].float_val)
    assert len(values) == 2 and values[0] == values[1], values


@case("servables/tensorflow/predict_util.cc VerifyRequestInputsSize: 'input size does not match signature'")
def grpc_extra_input(s):
    request = image_request(s, s.images[:1])
    request.inputs["extra"].CopyFrom(tf.make_tensor_proto([b"x"]))
    assert_code(
        s.predict_stub.Predict, request, grpc.StatusCode.INVALID_ARGUMENT, "input size does not match signature: 2!=1"
    )


@case("servables/tensorflow/predict_util.cc VerifyRequestInputsSize: no inputs at all")
def grpc_no_inputs(s):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = s.model
    assert_code(
        s.predict_stub.Predict, request, grpc.StatusCode.INVALID_ARGUMENT, "input size does not match signature: 0!=1"
    )


@case("tensorflow/cc/saved_model/util.cc GetInputValues: an input named wrongly, the count right")
def grpc_wrong_input_name(s):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = s.model
    request.inputs["images"].CopyFrom(tf.make_tensor_proto([s.images[0]]))
    assert_code(s.predict_stub.Predict, request, grpc.StatusCode.INVALID_ARGUMENT)


@case("direct session Run: a float tensor fed where the signature takes strings is INVALID_ARGUMENT")
def grpc_wrong_dtype(s):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = s.model
    request.inputs[IMAGE_INPUT].CopyFrom(tf.make_tensor_proto([1.0, 2.0]))
    assert_code(s.predict_stub.Predict, request, grpc.StatusCode.INVALID_ARGUMENT)


@case("bytes that are no image: the decoding op's INVALID_ARGUMENT")
def grpc_not_an_image(s):
    assert_code(s.predict_stub.Predict, image_request(s, [b"not an image"]), grpc.StatusCode.INVALID_ARGUMENT)


# --- gRPC: model lookup and its codes -----------------------------------------------------------------------


@case("servables/tensorflow/predict_impl.cc Predict: !has_model_spec() -> INVALID_ARGUMENT 'Missing ModelSpec'")
def grpc_predict_missing_model_spec(s):
    request = predict_pb2.PredictRequest()
    request.inputs[IMAGE_INPUT].CopyFrom(tf.make_tensor_proto([s.images[0]]))
    assert_code(s.predict_stub.Predict, request, grpc.StatusCode.INVALID_ARGUMENT, "Missing ModelSpec")


@case("model_servers/server_core.cc ServableRequestFromModelSpec: 'ModelSpec has no name specified.'")
def grpc_predict_empty_name(s):
    request = image_request(s, s.images[:1], name="")
    request.model_spec.signature_name = "serving_default"
    assert_code(s.predict_stub.Predict, request, grpc.StatusCode.INVALID_ARGUMENT, "ModelSpec has no name specified")


@case("servables/tensorflow/predict_impl.cc PredictWithModelSpec: GetServableHandle before anything else")
def grpc_predict_unknown_model_before_inputs(s):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "nope"
    request.model_spec.signature_name = "no_such_signature"
    request.inputs["x"].CopyFrom(tf.make_tensor_proto([1.0]))
    assert_code(s.predict_stub.Predict, request, grpc.StatusCode.NOT_FOUND, "nope")


@case("core/servable_handle.h / server_core.cc: an unknown version is NOT_FOUND")
def grpc_predict_unknown_version(s):
    assert_code(s.predict_stub.Predict, image_request(s, s.images[:1], version=7), grpc.StatusCode.NOT_FOUND)


@case("model_servers/server_core.cc GetModelVersionForLabel: 'Unrecognized servable version label'")
def grpc_predict_unknown_label(s):
    assert_code(
        s.predict_stub.Predict,
        image_request(s, s.images[:1], version_label="nope"),
        grpc.StatusCode.INVALID_ARGUMENT,
        "Unrecognized servable version label: nope",
    )


@case("servables/tensorflow/predict_util.cc RunPredict: 'Serving signature key \"x\" not found.'")
def grpc_predict_unknown_signature(s):
    assert_code(
        s.predict_stub.Predict,
        image_request(s, s.images[:1], signature_name="nope"),
        grpc.StatusCode.FAILED_PRECONDITION,
        'Serving signature key "nope" not found.',
    )


@case("model_servers/get_model_status_impl.cc GetModelStatus: !has_model_spec() -> 'Missing ModelSpec'")
def grpc_status_missing_model_spec(s):
    assert_code(
        s.model_stub.GetModelStatus,
        get_model_status_pb2.GetModelStatusRequest(),
        grpc.StatusCode.INVALID_ARGUMENT,
        "Missing ModelSpec",
    )


@case("model_servers/get_model_status_impl.cc: an empty name has no versions: NOT_FOUND")
def grpc_status_empty_name(s):
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.SetInParent()
    assert_code(s.model_stub.GetModelStatus, request, grpc.StatusCode.NOT_FOUND, "Could not find any versions of model")


@case("model_servers/get_model_status_impl.cc: 'Could not find version V of model M'")
def grpc_status_unknown_version(s):
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = s.model
    request.model_spec.version.value = 7
    assert_code(
        s.model_stub.GetModelStatus, request, grpc.StatusCode.NOT_FOUND, f"Could not find version 7 of model {s.model}"
    )


@case("model_servers/get_model_status_impl.cc AddModelVersionStatusToResponse: state and an OK status")
def grpc_status_available(s):
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = s.model
    response = s.model_stub.GetModelStatus(request, timeout=TIMEOUT)
    states = {v.version: v for v in response.model_version_status}
    assert states[s.version].state == get_model_status_pb2.ModelVersionStatus.AVAILABLE
    assert states[s.version].status.error_code == 0


@case("servables/tensorflow/get_model_metadata_impl.cc GetModelMetadata: 'Missing ModelSpec'")
def grpc_metadata_missing_model_spec(s):
    request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
    assert_code(s.predict_stub.GetModelMetadata, request, grpc.StatusCode.INVALID_ARGUMENT, "Missing ModelSpec")


@case("servables/tensorflow/get_model_metadata_impl.cc ValidateGetModelMetadataRequest before the lookup")
def grpc_metadata_fields_checked_before_the_model(s):
    request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["nope"])
    request.model_spec.name = "no_such_model"
    assert_code(
        s.predict_stub.GetModelMetadata,
        request,
        grpc.StatusCode.INVALID_ARGUMENT,
        "Metadata field nope is not supported",
    )


@case("servables/tensorflow/get_model_metadata_impl.cc: an empty name -> 'ModelSpec has no name specified.'")
def grpc_metadata_empty_name(s):
    request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
    request.model_spec.SetInParent()
    assert_code(
        s.predict_stub.GetModelMetadata, request, grpc.StatusCode.INVALID_ARGUMENT, "ModelSpec has no name specified"
    )


@case("servables/tensorflow/get_model_metadata_impl.cc SavedModelGetSignatureDef: every signature")
def grpc_metadata_signatures(s):
    request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
    request.model_spec.name = s.model
    response = s.predict_stub.GetModelMetadata(request, timeout=TIMEOUT)
    assert response.model_spec.version.value == s.version
    signature_defs = get_model_metadata_pb2.SignatureDefMap()
    assert response.metadata["signature_def"].Unpack(signature_defs)
    assert {"serving_default", CLASSIFICATION} <= set(signature_defs.signature_def)


# --- Classify, Regress, MultiInference -----------------------------------------------------------------------


def classification_request(s: Served, images, signature=CLASSIFICATION, name=None):
    request = classification_pb2.ClassificationRequest()
    request.model_spec.name = s.model if name is None else name
    request.model_spec.signature_name = signature
    for image in images:
        request.input.example_list.examples.add().ParseFromString(example(image))
    return request


@case("servables/tensorflow/classifier.cc PreProcessClassification: 'Expected one or two output Tensors'")
def grpc_classify_on_the_predict_signature(s):
    assert_code(
        s.predict_stub.Classify,
        classification_request(s, s.images[:1], signature=""),
        grpc.StatusCode.INVALID_ARGUMENT,
        "Expected one or two output Tensors, found 5",
    )


@case("servables/tensorflow/classifier.cc PostProcessClassificationResult: classes and scores per example")
def grpc_classify(s):
    response = s.predict_stub.Classify(classification_request(s, s.images[:2]), timeout=TIMEOUT)
    assert len(response.result.classifications) == 2
    probabilities = grpc_probabilities(s, s.images[:2])
    for classification, probability in zip(response.result.classifications, probabilities, strict=True):
        assert [c.label for c in classification.classes] == s.class_names
        assert abs(classification.classes[1].score - probability) < 1e-5
        assert abs(sum(c.score for c in classification.classes) - 1) < 1e-5
    assert response.model_spec.signature_name == CLASSIFICATION
    assert response.model_spec.version.value == s.version


@case("servables/tensorflow/classification_service.cc Classify: 'Missing ModelSpec'")
def grpc_classify_missing_model_spec(s):
    request = classification_request(s, s.images[:1])
    request.ClearField("model_spec")
    assert_code(s.predict_stub.Classify, request, grpc.StatusCode.INVALID_ARGUMENT, "Missing ModelSpec")


@case("servables/tensorflow/classification_service.cc ClassifyWithModelSpec: GetServableHandle first")
def grpc_classify_unknown_model(s):
    assert_code(
        s.predict_stub.Classify, classification_request(s, [], signature="nope", name="nope"), grpc.StatusCode.NOT_FOUND
    )


@case("servables/tensorflow/classifier.cc GetClassificationSignatureDef: 'No signature was found with the name'")
def grpc_classify_unknown_signature(s):
    assert_code(
        s.predict_stub.Classify,
        classification_request(s, s.images[:1], signature="nope"),
        grpc.StatusCode.INVALID_ARGUMENT,
        "No signature was found with the name: nope",
    )


@case("servables/tensorflow/util.cc InputToSerializedExampleTensor: 'Input is empty.'")
def grpc_classify_no_examples(s):
    assert_code(
        s.predict_stub.Classify, classification_request(s, []), grpc.StatusCode.INVALID_ARGUMENT, "Input is empty."
    )


@case("servables/tensorflow/regressor.cc PreProcessRegression: 'Expected one output Tensor.'")
def grpc_regress_is_an_error(s):
    request = regression_pb2.RegressionRequest()
    request.model_spec.name = s.model
    request.input.example_list.examples.add().ParseFromString(example(s.images[0]))
    assert_code(s.predict_stub.Regress, request, grpc.StatusCode.INVALID_ARGUMENT, "Expected one output Tensor.")


@case("servables/tensorflow/multi_inference.cc Infer: a classify task on the classification signature")
def grpc_multi_inference_classify(s):
    request = inference_pb2.MultiInferenceRequest()
    task = request.tasks.add(method_name="tensorflow/serving/classify")
    task.model_spec.name = s.model
    task.model_spec.signature_name = CLASSIFICATION
    request.input.example_list.examples.add().ParseFromString(example(s.images[0]))
    response = s.predict_stub.MultiInference(request, timeout=TIMEOUT)
    classes = response.results[0].classification_result.classifications[0].classes
    assert [c.label for c in classes] == s.class_names


@case("servables/tensorflow/multi_inference.cc Infer: a regress task on a predict signature")
def grpc_multi_inference_regress(s):
    request = inference_pb2.MultiInferenceRequest()
    task = request.tasks.add(method_name="tensorflow/serving/regress")
    task.model_spec.name = s.model
    request.input.example_list.examples.add().ParseFromString(example(s.images[0]))
    assert_code(s.predict_stub.MultiInference, request, grpc.StatusCode.INVALID_ARGUMENT, "Expected one output Tensor.")


@case("servables/tensorflow/multi_inference_helper.cc: no tasks -> the default ModelSpec, no name")
def grpc_multi_inference_no_tasks(s):
    assert_code(
        s.predict_stub.MultiInference,
        inference_pb2.MultiInferenceRequest(),
        grpc.StatusCode.INVALID_ARGUMENT,
        "ModelSpec has no name specified",
    )


# --- REST :predict: request forms (util/json_tensor.cc FillPredictRequestFromJson, g3doc/api_rest.md) -----


def assert_rows(response: requests.Response, count: int) -> list:
    assert_status(response, 200)
    rows = response.json()["predictions"]
    assert len(rows) == count and all(set(row) == OUTPUTS for row in rows), rows
    return rows


@case('g3doc/api_rest.md \'Encoding binary values\': {"instances": [{"b64": ...}]}')
def rest_row_b64(s):
    rows = assert_rows(post(s, {"instances": [b64(i) for i in s.images[:2]]}), 2)
    assert rows[0]["class_name"] in s.class_names


@case('g3doc/api_rest.md row format: named inputs {"instances": [{"image_bytes": {"b64": ...}}]}')
def rest_row_named(s):
    assert_rows(post(s, {"instances": [{IMAGE_INPUT: b64(i)} for i in s.images[:2]]}), 2)


@case('util/json_tensor.cc FillTensorMapFromInstancesList: [[{"b64": ...}], ...] is an [N, 1] tensor')
def rest_row_column(s):
    assert_rows(post(s, {"instances": [[b64(i)] for i in s.images[:2]]}), 2)


@case('util/json_tensor.cc FillTensorMapFromInputsMap: {"inputs": {"b64": ...}} is a scalar')
def rest_columnar_scalar(s):
    response = post(s, {"inputs": b64(s.images[0])})
    assert_status(response, 200)
    assert len(response.json()["outputs"]["probability"]) == 1


@case('util/json_tensor.cc FillTensorMapFromInputsMap: {"inputs": {"image_bytes": {"b64": ...}}}')
def rest_columnar_named_scalar(s):
    response = post(s, {"inputs": {IMAGE_INPUT: b64(s.images[0])}})
    assert_status(response, 200)
    assert set(response.json()["outputs"]) == OUTPUTS


@case("util/json_tensor.cc FillTensorMapFromInputsMap: the columnar [N, 1] form")
def rest_columnar_column(s):
    response = post(s, {"inputs": {IMAGE_INPUT: [[b64(i)] for i in s.images[:2]]}})
    assert_status(response, 200)
    assert len(response.json()["outputs"]["probability"]) == 2


@case('g3doc/api_rest.md columnar format: {"inputs": [{"b64": ...}, ...]} answers {"outputs": {...}}')
def rest_columnar_list(s):
    response = post(s, {"inputs": [b64(i) for i in s.images[:2]]})
    assert_status(response, 200)
    assert set(response.json()["outputs"]) == OUTPUTS


@case("util/json_tensor.cc JsonDecodeBase64Object: absl::Base64Unescape takes unpadded base64")
def rest_unpadded_base64(s):
    image = next(i for i in s.images if len(i) % 3)  # one whose base64 ends in padding
    assert_rows(post(s, {"instances": [{"b64": base64.b64encode(image).decode().rstrip("=")}]}), 1)


@case("util/json_tensor.cc JsonDecodeBase64Object: absl::Base64Unescape skips whitespace (line-wrapped base64)")
def rest_line_wrapped_base64(s):
    text = base64.encodebytes(s.images[0]).decode()  # MIME style: a newline every 76 characters
    assert "\n" in text.strip()
    assert_rows(post(s, {"instances": [{"b64": text}]}), 1)


@case("util/json_tensor.cc JsonDecodeBase64Object: 'Unable to base64 decode'")
def rest_bad_base64(s):
    assert_status(post(s, {"instances": [{"b64": "!!!!"}]}), 400, "Unable to base64 decode")


@case("util/net_http (evhttp_request.cc): a Content-Encoding: gzip body is uncompressed")
def rest_gzip_body(s):
    body = gzip.compress(json.dumps({"instances": [b64(s.images[0])]}).encode())
    assert_rows(post(s, body, headers={"Content-Encoding": "gzip"}), 1)


@case("util/json_tensor.cc FillSignature: rapidjson FindMember takes the first of duplicate keys")
def rest_duplicate_keys_first_wins(s):
    instance = json.dumps(b64(s.images[0]))
    body = f'{{"signature_name": "serving_default", "signature_name": "nope", "instances": [{instance}]}}'
    assert_rows(post(s, body), 1)


@case("util/json_tensor.cc WriteDecimal: floats as absl::StrCat, else %.9g")
def rest_float_printing(s):
    response = post(s, {"instances": [b64(i) for i in s.images[:2]]})
    assert_status(response, 200)
    expected = [write_decimal(p) for p in grpc_probabilities(s, s.images[:2])]
    printed = re.findall(r'"probability"\s*:\s*([^,}\s]+)', response.text)
    assert printed == expected, f"printed {printed}, WriteDecimal gives {expected}"


@case("util/json_tensor.cc MakeRowFormatJsonFromTensors: one object per row, every output")
def rest_row_response_matches_grpc(s):
    rows = assert_rows(post(s, {"instances": [b64(i) for i in s.images[:2]]}), 2)
    for row, probability in zip(rows, grpc_probabilities(s, s.images[:2]), strict=True):
        assert np.float32(row["probability"]) == np.float32(probability)
        assert row["class_name"] == s.class_names[row["class_id"]]


@case("model_servers/http_rest_api_handler.cc: the signature named in the body; version paths")
def rest_signature_and_version_path(s):
    url = s.url(f"/v1/models/{s.model}/versions/{s.version}:predict")
    encoded = base64.b64encode(example(s.images[0])).decode()
    body = {"signature_name": "serving_tf_example", "instances": [{"b64": encoded}]}
    assert_rows(post(s, body, url=url), 1)


# --- REST: errors and their order -----------------------------------------------------------------------------


@case("util/json_tensor.cc FillPredictRequestFromJson: the model is looked up before 'instances' is read")
def rest_unknown_model_before_instances(s):
    assert_status(post(s, {"instances": []}, url=s.predict_url("nope")), 404)


@case("util/json_tensor.cc ParseJson runs before the lookup: malformed JSON is 400 whatever the model")
def rest_bad_json_before_model(s):
    assert_status(post(s, "{not json", url=s.predict_url("nope")), 400, "JSON Parse error")


@case("util/json_tensor.cc ParseJson: 'JSON Parse error: The document is empty'")
def rest_empty_body(s):
    assert_status(post(s, b""), 400, "The document is empty")


@case("util/json_tensor.cc ParseJson: a body that is not an object -> 'Is not object'")
def rest_not_an_object(s):
    assert_status(post(s, "[1, 2]"), 400, "Is not object")


@case("util/json_tensor.cc FillPredictRequestFromJson: \"Missing 'inputs' or 'instances' key\"")
def rest_missing_inputs(s):
    assert_status(post(s, {"signature_name": "serving_default"}), 400, "Missing 'inputs' or 'instances' key")


@case("util/json_tensor.cc FillPredictRequestFromJson: both keys")
def rest_both_keys(s):
    assert_status(
        post(s, {"instances": [b64(s.images[0])], "inputs": [b64(s.images[0])]}),
        400,
        "expecting only one of 'inputs' or 'instances' keys to exist",
    )


@case("util/json_tensor.cc FillPredictRequestFromJson: \"No values in 'instances' array\"")
def rest_empty_instances(s):
    assert_status(post(s, {"instances": []}), 400, "No values in 'instances' array")


@case("util/json_tensor.cc FillPredictRequestFromJson: \"Expecting 'instances' to be an list/array\"")
def rest_instances_not_a_list(s):
    assert_status(post(s, {"instances": b64(s.images[0])}), 400, "Expecting 'instances' to be an list/array")


@case("util/json_tensor.cc FillSignature: \"'signature_name' key must be a string value\"")
def rest_signature_name_not_a_string(s):
    assert_status(
        post(s, {"signature_name": 1, "instances": [b64(s.images[0])]}),
        400,
        "'signature_name' key must be a string value",
    )


@case("model_servers/http_rest_api_handler.cc GetInfoMap: 'Serving signature name: \"x\" not found in signature def'")
def rest_unknown_signature(s):
    assert_status(
        post(s, {"signature_name": "nope", "instances": [b64(s.images[0])]}),
        400,
        'Serving signature name: "nope" not found in signature def',
    )


@case("util/json_tensor.cc AddInstanceItem: rows of different shapes -> 'Expecting tensor size'")
def rest_ragged_instances(s):
    assert_status(
        post(s, {"instances": [[b64(s.images[0])], [b64(s.images[0]), b64(s.images[1])]]}), 400, "Expecting tensor size"
    )


@case("util/json_tensor.cc FillTensorMapFromInstancesList: a named instance with an unknown input")
def rest_unknown_named_input(s):
    assert_status(post(s, {"instances": [{"nope": b64(s.images[0])}]}), 400, "does not have named input: nope")


@case("util/json_tensor.cc AddValueToTensor: a number for a string input is a type error")
def rest_wrong_json_type(s):
    assert_status(post(s, {"instances": [1]}), 400, "is not of expected type: string")


@case("model_servers/http_rest_api_util.cc kPredictionApiGegex: (?i) matches /V1/MODELS/...")
def rest_upper_case_path(s):
    url = s.url(f"/V1/MODELS/{s.model}:predict")
    assert_rows(post(s, {"instances": [b64(s.images[0])]}, url=url), 1)


@case("model_servers/http_rest_api_handler.cc ProcessRequest: ':PREDICT' matches the regex but no method")
def rest_upper_case_verb(s):
    url = s.url(f"/v1/models/{s.model}:PREDICT")
    assert_status(post(s, {"instances": [b64(s.images[0])]}, url=url), 400, "Malformed request: POST")


@case("model_servers/http_rest_api_handler.cc ProcessRequest: POST without a method is 'Malformed request'")
def rest_post_without_verb(s):
    assert_status(
        post(s, {"instances": []}, url=s.url(f"/v1/models/{s.model}")),
        400,
        f"Malformed request: POST /v1/models/{s.model}",
    )


@case("model_servers/http_rest_api_handler.cc ProcessRequest: PUT is TF Serving's JSON 400")
def rest_put(s):
    response = requests.put(s.url(f"/v1/models/{s.model}"), data="{}", timeout=TIMEOUT)
    assert_status(response, 400, f"Malformed request: PUT /v1/models/{s.model}")


@case("model_servers/http_rest_api_handler.cc ProcessRequest: DELETE is TF Serving's JSON 400")
def rest_delete(s):
    response = requests.delete(s.url(f"/v1/models/{s.model}"), timeout=TIMEOUT)
    assert_status(response, 400, f"Malformed request: DELETE /v1/models/{s.model}")


@case("model_servers/http_server.cc ProcessRequest: OPTIONS with an http(s) Origin is a CORS preflight: 200")
def rest_options_with_origin(s):
    response = requests.options(s.predict_url(), headers={"Origin": "http://example.com"}, timeout=TIMEOUT)
    assert response.status_code == 200, response.status_code


@case("model_servers/http_server.cc ProcessRequest: OPTIONS without Origin is FAILED_PRECONDITION: 400")
def rest_options_without_origin(s):
    response = requests.options(s.predict_url(), timeout=TIMEOUT)
    assert response.status_code == 400, response.status_code


@case("model_servers/http_rest_api_util.cc ParseModelInfo: 'Failed to convert version: ... to numeric.'")
def rest_version_out_of_range(s):
    response = requests.get(s.url(f"/v1/models/{s.model}/versions/99999999999999999999"), timeout=TIMEOUT)
    assert_status(response, 400, "to numeric")


@case("model_servers/http_rest_api_util.cc kModelStatusApiRegex: /versions/abc does not match: Malformed request")
def rest_version_not_digits(s):
    response = requests.get(s.url(f"/v1/models/{s.model}/versions/abc"), timeout=TIMEOUT)
    assert_status(response, 400, "Malformed request: GET")


@case("model_servers/http_rest_api_util.cc: RE2's \\d is ASCII only: /versions/\u0663 is Malformed request")
def rest_version_non_ascii_digits(s):
    response = requests.get(s.url(f"/v1/models/{s.model}/versions/%D9%A3"), timeout=TIMEOUT)
    assert response.status_code == 400, response.status_code


@case("model_servers/http_rest_api_handler.cc ProcessModelStatusRequest: 'Missing model name in request.'")
def rest_status_without_name(s):
    assert_status(requests.get(s.url("/v1/models"), timeout=TIMEOUT), 400, "Missing model name in request.")


@case("model_servers/http_rest_api_util.cc ToJsonString: the status proto with every field")
def rest_status(s):
    response = requests.get(s.url(f"/v1/models/{s.model}"), timeout=TIMEOUT)
    assert_status(response, 200)
    versions = {v["version"]: v for v in response.json()["model_version_status"]}
    assert versions[str(s.version)]["state"] == "AVAILABLE"
    assert versions[str(s.version)]["status"] == {"error_code": "OK", "error_message": ""}


@case("model_servers/get_model_status_impl.cc over REST: an unknown model is 404")
def rest_status_unknown_model(s):
    assert_status(requests.get(s.url("/v1/models/nope"), timeout=TIMEOUT), 404)


@case("model_servers/http_rest_api_util.cc ToJsonString(GetModelMetadataResponse): proto field names")
def rest_metadata(s):
    response = requests.get(s.url(f"/v1/models/{s.model}/metadata"), timeout=TIMEOUT)
    assert_status(response, 200)
    body = response.json()
    assert body["model_spec"] == {"name": s.model, "signature_name": "", "version": str(s.version)}
    default = body["metadata"]["signature_def"]["signature_def"]["serving_default"]
    assert set(default["outputs"]) == OUTPUTS and default["method_name"] == "tensorflow/serving/predict"


@case("model_servers/http_rest_api_handler.cc ProcessClassifyRequest: :classify on the predict signature")
def rest_classify_on_the_predict_signature(s):
    body = {"examples": [{IMAGE_FEATURE: b64(s.images[0])}]}
    assert_status(post(s, body, url=s.predict_url(verb="classify")), 400, "Expected one or two output Tensors")


@case('util/json_tensor.cc MakeJsonFromClassificationResult: {"results": [[[label, score], ...]]}')
def rest_classify(s):
    body = {"signature_name": CLASSIFICATION, "examples": [{IMAGE_FEATURE: b64(i)} for i in s.images[:2]]}
    response = post(s, body, url=s.predict_url(verb="classify"))
    assert_status(response, 200)
    results = response.json()["results"]
    assert len(results) == 2
    for result, probability in zip(results, grpc_probabilities(s, s.images[:2]), strict=True):
        assert [label for label, _ in result] == s.class_names
        assert abs(result[1][1] - probability) < 1e-5


@case("util/json_tensor.cc FillClassifyRegressRequestFromJson: \"key 'examples' is expected\"")
def rest_classify_without_examples(s):
    body = {"signature_name": CLASSIFICATION, "instances": []}
    assert_status(post(s, body, url=s.predict_url(verb="classify")), 400, "'examples' is expected and was not found")


@case("model_servers/http_rest_api_handler.cc ProcessRegressRequest: :regress stays an error")
def rest_regress(s):
    body = {"signature_name": CLASSIFICATION, "examples": [{IMAGE_FEATURE: b64(s.images[0])}]}
    assert_status(post(s, body, url=s.predict_url(verb="regress")), 400, "Expected one output Tensor.")


@case('model_servers/http_server.cc: an error is always {"error": ...}, a body over the limit too')
def rest_body_too_large_is_a_json_error(s):
    response = post(s, b'{"instances": ["' + b"A" * (65 << 20) + b'"]}')
    assert response.status_code in (400, 413), response.status_code
    assert isinstance(response.json().get("error"), str), response.text[:200]


@case(
    'example/resnet_client.py (MODEL_ACCEPT_JPG): \'{"instances" : [{"b64": "%s"}]}\' then '
    "response.json()['predictions'][0]"
)
def resnet_rest_client(s):
    jpeg_bytes = base64.b64encode(s.images[0]).decode("utf-8")
    predict_request = '{"instances" : [{"b64": "%s"}]}' % jpeg_bytes  # noqa: UP031 - resnet_client.py's own line
    for _ in range(3):
        response = requests.post(s.predict_url(), data=predict_request, timeout=TIMEOUT)
        response.raise_for_status()
    prediction = response.json()["predictions"][0]
    assert prediction["class_name"] in s.class_names


@case("example/resnet_client_grpc.py: Predict then result.outputs[name].float_val")
def resnet_grpc_client(s):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = s.model
    request.model_spec.signature_name = "serving_default"
    request.inputs[IMAGE_INPUT].CopyFrom(tf.make_tensor_proto(s.images[0]))
    result = s.predict_stub.Predict(request, 10.0)
    result = result.outputs["probability"].float_val
    assert len(result) == 1 and 0 <= result[0] <= 1, result


# --- metrics (servables/tensorflow/util.cc, util/prometheus_exporter.cc, model_servers/http_server.cc) -------

REQUEST_COUNT = ":tensorflow:serving:request_count"
REQUEST_LATENCY = ":tensorflow:serving:request_latency"


@case("model_servers/http_server.cc ProcessRequest: RecordModelRequestCount for every REST request, GETs too")
def metrics_count_rest_gets(s):
    before = metric_value(s.metrics(), REQUEST_COUNT, model_name=s.model, status="OK")
    requests.get(s.url(f"/v1/models/{s.model}"), timeout=TIMEOUT).raise_for_status()
    requests.get(s.url(f"/v1/models/{s.model}/metadata"), timeout=TIMEOUT).raise_for_status()
    assert metric_value(s.metrics(), REQUEST_COUNT, model_name=s.model, status="OK") == before + 2


@case("model_servers/prediction_service_impl.cc Predict: RecordRequestLatency(name, 'Predict', 'GRPC')")
def metrics_grpc_latency_label(s):
    labels = dict(model_name=s.model, API="Predict", entrypoint="GRPC")
    before = metric_value(s.metrics(), REQUEST_LATENCY + "_count", **labels)
    s.predict_stub.Predict(image_request(s, s.images[:1]), timeout=TIMEOUT)
    assert metric_value(s.metrics(), REQUEST_LATENCY + "_count", **labels) == before + 1


@case("model_servers/http_server.cc ProcessRequest: RecordRequestLatency(name, method 'predict', 'REST')")
def metrics_rest_latency_label(s):
    labels = dict(model_name=s.model, API="predict", entrypoint="REST")
    before = metric_value(s.metrics(), REQUEST_LATENCY + "_count", **labels)
    post(s, {"instances": [b64(s.images[0])]}).raise_for_status()
    assert metric_value(s.metrics(), REQUEST_LATENCY + "_count", **labels) == before + 1


@case("model_servers/prediction_service_impl.cc Predict: latency only `if (status.ok())`; the count always")
def metrics_latency_of_ok_requests_only(s):
    text = s.metrics()
    latency = metric_value(text, REQUEST_LATENCY + "_count", model_name=s.model)
    failed = metric_value(text, REQUEST_COUNT, model_name=s.model, status="INVALID_ARGUMENT")
    rpc_error(s.predict_stub.Predict, image_request(s, [b"not an image"]))
    text = s.metrics()
    assert metric_value(text, REQUEST_LATENCY + "_count", model_name=s.model) == latency
    assert metric_value(text, REQUEST_COUNT, model_name=s.model, status="INVALID_ARGUMENT") == failed + 1


@case("util/prometheus_exporter.cc SerializeHistogram: le=absl::StrCat(limit), 33 limits then +Inf")
def metrics_bucket_labels(s):
    s.predict_stub.Predict(image_request(s, s.images[:1]), timeout=TIMEOUT)
    limits = re.findall(
        r"^"
        + re.escape(REQUEST_LATENCY)
        + r'_bucket\{[^}]*model_name="'
        + re.escape(s.model)
        + r'",API="Predict",entrypoint="GRPC",le="([^"]+)"\}',
        s.metrics(),
        re.M,
    )
    expected = ["%g" % (10 * 1.8**i) for i in range(33)] + ["+Inf"]
    assert limits == expected, limits[:6]


@case("util/prometheus_exporter.cc SerializeScalar: '# TYPE name counter', no HELP lines")
def metrics_type_lines(s):
    text = s.metrics()
    assert f"# TYPE {REQUEST_COUNT} counter" in text
    assert f"# TYPE {REQUEST_LATENCY} histogram" in text
    assert "# HELP" not in text


@case("tensorflow/cc/saved_model/loader.cc load_attempt_count: model_path is the version folder")
def metrics_load_attempt_model_path(s):
    paths = re.findall(
        r'^:tensorflow:cc:saved_model:load_attempt_count\{model_path="([^"]+)",status="success"\}', s.metrics(), re.M
    )
    assert any(path.rstrip("/").endswith(f"/{s.version}") for path in paths), paths


# --- --model_config_file (model_servers/server.cc, server_core.cc, config/model_server_config.proto) --------


@dataclasses.dataclass
class ConfigServed(Served):
    """A server started with --model_config_file: `model` under the latest policy, `second` (versions 1
    and 2 of the same SavedModel) under a specific policy with labels stable=1, canary=2. config_path is
    the file, rewritable for the reload cases."""

    second: str = ""
    config_path: str = ""
    config: model_server_config_pb2.ModelServerConfig | None = None


def reload_config(s: ConfigServed, config: model_server_config_pb2.ModelServerConfig):
    request = model_management_pb2.ReloadConfigRequest(config=config)
    return s.model_stub.HandleReloadConfigRequest(request, timeout=TIMEOUT)


@case("model_servers/server.cc: --model_config_file serves every model of the list", needs="config")
def config_two_models(s):
    for name in (s.model, s.second):
        response = s.predict_stub.Predict(image_request(s, s.images[:1], name=name), timeout=TIMEOUT)
        assert len(response.outputs["probability"].float_val) == 1


@case("config/model_server_config.proto version_labels: a label names a version", needs="config")
def config_version_labels(s):
    for label, version in (("stable", 1), ("canary", 2)):
        response = s.predict_stub.Predict(
            image_request(s, s.images[:1], name=s.second, version_label=label), timeout=TIMEOUT
        )
        assert response.model_spec.version.value == version


@case("model_servers/http_rest_api_util.cc: /labels/<label>:predict", needs="config")
def config_rest_label_path(s):
    url = s.url(f"/v1/models/{s.second}/labels/canary:predict")
    assert_rows(post(s, {"instances": [b64(s.images[0])]}, url=url), 1)


@case("config/file_system_storage_path_source.proto ServableVersionPolicy.specific: those versions", needs="config")
def config_specific_versions(s):
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = s.second
    states = {v.version: v.state for v in s.model_stub.GetModelStatus(request, timeout=TIMEOUT).model_version_status}
    available = get_model_status_pb2.ModelVersionStatus.AVAILABLE
    assert {v for v, state in states.items() if state == available} == {1, 2}, states


@case(
    "model_servers/model_service_impl.cc HandleReloadConfigRequest: a new list replaces the old one, "
    "models removed from it unload",
    needs="config",
)
def config_reload_drops_a_model(s):
    config = model_server_config_pb2.ModelServerConfig()
    config.CopyFrom(s.config)
    del config.model_config_list.config[1:]
    response = reload_config(s, config)
    assert response.status.error_code == 0, response.status
    try:
        assert_code(s.predict_stub.Predict, image_request(s, s.images[:1], name=s.second), grpc.StatusCode.NOT_FOUND)
    finally:
        assert reload_config(s, s.config).status.error_code == 0
        wait_until_available(s.grpc_target, s.second)


@case(
    "model_servers/server_core.cc ValidateModelConfigList: 'Illegal to list model ... multiple times'; "
    "the old config serves on",
    needs="config",
)
def config_reload_bad_keeps_the_old(s):
    config = model_server_config_pb2.ModelServerConfig()
    config.CopyFrom(s.config)
    config.model_config_list.config.add().CopyFrom(config.model_config_list.config[0])
    request = model_management_pb2.ReloadConfigRequest(config=config)
    assert_code(
        s.model_stub.HandleReloadConfigRequest,
        request,
        grpc.StatusCode.INVALID_ARGUMENT,
        f"Illegal to list model {s.model} multiple times in config list",
    )
    s.predict_stub.Predict(image_request(s, s.images[:1]), timeout=TIMEOUT)


@case("model_servers/server_core.cc ValidateModelConfigList: base paths must be absolute", needs="config")
def config_reload_relative_path(s):
    config = model_server_config_pb2.ModelServerConfig()
    config.CopyFrom(s.config)
    config.model_config_list.config[0].base_path = "relative/path"
    request = model_management_pb2.ReloadConfigRequest(config=config)
    assert_code(
        s.model_stub.HandleReloadConfigRequest,
        request,
        grpc.StatusCode.INVALID_ARGUMENT,
        f"Expected model {s.model} to have an absolute path or URI; got base_path()=relative/path",
    )
    s.predict_stub.Predict(image_request(s, s.images[:1]), timeout=TIMEOUT)


# --- starting a server -------------------------------------------------------------------------------------


def wait_until_available(target: str, model: str, timeout_seconds: float = 300) -> None:
    with grpc.insecure_channel(target) as channel:
        stub = model_service_pb2_grpc.ModelServiceStub(channel)
        deadline = time.monotonic() + timeout_seconds
        while True:
            request = get_model_status_pb2.GetModelStatusRequest()
            request.model_spec.name = model
            try:
                response = stub.GetModelStatus(request, timeout=5)
                if any(
                    v.state == get_model_status_pb2.ModelVersionStatus.AVAILABLE for v in response.model_version_status
                ):
                    return
            except grpc.RpcError:
                pass  # starting, or still loading
            if time.monotonic() > deadline:
                raise TimeoutError(f"{model} did not become available at {target}")
            time.sleep(0.3)


_LISTENING = re.compile(r" on (\S+):(\d+) \(gRPC.*?(https?)://(\S+):(\d+) \(REST")


# The command's entry point, in this checkout or (on PYTHONPATH, for a before/after benchmark) an older one
# that kept it in pipeline/cli.py.
_MAIN = """import sys
try:
    from pipeline.cli import main
except ImportError:
    from cli.main import main
sys.argv[0] = "catdog"
sys.exit(main(sys.argv[1:]))
"""


@contextlib.contextmanager
def catdog_serve(args, env=None, cwd=None):
    """`catdog serve ARGS --port 0 --rest-port 0` in a process of its own; yields (process, gRPC target,
    REST URL) once it listens."""
    command = [sys.executable, "-c", _MAIN, "serve", "--port", "0", "--rest-port", "0", *map(str, args)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=cwd)
    try:
        output = []
        for line in process.stdout:
            output.append(line)
            match = _LISTENING.search(line)
            if match:
                break
        else:
            raise RuntimeError("catdog serve did not start:\n" + "".join(output[-30:]))
        threading.Thread(target=lambda: [None for _ in process.stdout], daemon=True).start()  # keep the pipe drained
        host, port, scheme, rest_host, rest_port = match.groups()
        yield process, f"{host}:{port}", f"{scheme}://{rest_host}:{rest_port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def config_text(first: str, first_path: str, second: str, second_path: str) -> str:
    """The ModelServerConfig ConfigServed describes."""
    return f"""model_config_list {{
  config {{ name: "{first}" base_path: "{first_path}" model_platform: "tensorflow" }}
  config {{
    name: "{second}" base_path: "{second_path}" model_platform: "tensorflow"
    model_version_policy {{ specific {{ versions: 1 versions: 2 }} }}
    version_labels {{ key: "stable" value: 1 }}
    version_labels {{ key: "canary" value: 2 }}
  }}
}}
"""


def run_cases(served: Served | None, config_served: ConfigServed | None) -> dict[str, dict]:
    """Every case: {name: {"source", "passed", "error"}}; a case whose server is None fails."""
    results = {}
    for c in CASES:
        target = served if c.needs == "model" else config_served
        try:
            if target is None:
                raise AssertionError("the server did not start")
            c.run(target)
            results[c.name] = {"source": c.source, "passed": True}
        except Exception as e:  # noqa: BLE001 - every way a case can fail is a mismatch to count
            results[c.name] = {"source": c.source, "passed": False, "error": f"{type(e).__name__}: {e}"[:500]}
    return results
