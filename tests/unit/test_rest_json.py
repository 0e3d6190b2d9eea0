"""TF Serving's REST JSON without a model: request forms, bounds on what a body may expand to, number
printing, and the metrics page's labels (util/json_tensor.cc, util/prometheus_exporter.cc)."""

import base64
import json
import resource
import subprocess
import sys
import textwrap

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.protobuf import meta_graph_pb2

from components import limits
from serving.server import rest_json
from serving.server.metrics import UNKNOWN_MODEL_LABEL, ServingMetrics
from serving.server.model_registry import VersionState, VersionStatus
from serving.status import ServingError

IMAGE = b"\xff\xd8\xff\xe0 not really a JPEG, any bytes do"


def signature(**inputs) -> meta_graph_pb2.SignatureDef:
    signature_def = meta_graph_pb2.SignatureDef()
    for name, dtype in (inputs or {"image_bytes": tf.string}).items():
        signature_def.inputs[name].dtype = dtype.as_datatype_enum
    return signature_def


def tensors(body, signature_def=None) -> dict:
    parsed = rest_json.PredictBody(body if isinstance(body, bytes) else json.dumps(body).encode())
    decoded = parsed.input_tensors("serving_default", signature_def or signature())
    return {
        name: np.array(tensor.numpy(), dtype=object if tensor.dtype == tf.string else None)
        for name, tensor in decoded.items()
    }


def refused(body, words: str, signature_def=None) -> None:
    with pytest.raises(ServingError) as raised:
        tensors(body, signature_def)
    assert raised.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert words in raised.value.message, raised.value.message


B64 = {"b64": base64.b64encode(IMAGE).decode()}


@pytest.mark.parametrize(
    "body, shape",
    [
        ({"instances": [B64, B64]}, (2,)),
        ({"instances": [[B64], [B64]]}, (2, 1)),
        ({"instances": [{"image_bytes": B64}]}, (1,)),
        ({"inputs": B64}, ()),
        ({"inputs": {"image_bytes": B64}}, ()),
        ({"inputs": {"image_bytes": [[B64], [B64]]}}, (2, 1)),
    ],
)
def test_every_form_tf_serving_reads_gives_its_shape(body, shape):
    value = tensors(body)["image_bytes"]
    assert value.shape == shape
    assert set(value.reshape(-1).tolist()) == {IMAGE}


@pytest.mark.parametrize(
    "text",
    [
        base64.b64encode(IMAGE).decode().rstrip("="),  # unpadded
        base64.encodebytes(IMAGE * 20).decode(),  # line-wrapped, as MIME writes it
    ],
)
def test_base64_as_absl_reads_it(text):
    decoded = tensors({"instances": [{"b64": text}]})["image_bytes"][0]
    assert decoded in (IMAGE, IMAGE * 20)


def test_duplicate_keys_first_wins():
    body = b'{"signature_name": "first", "signature_name": "second", "instances": ["x"]}'
    assert rest_json.PredictBody(body).signature_name == "first"


@pytest.mark.parametrize(
    "value, printed",
    [
        (0.0016993386, "0.00169933855"),
        (0.5, "0.5"),
        (1.0, "1.0"),
        (9e6, "9e+06"),
        (0.2, "0.2"),
        (float("nan"), "NaN"),
        (float("-inf"), "-Infinity"),
    ],
)
def test_floats_print_as_write_decimal(value, printed):
    body = rest_json.response_body({"p": np.array([value], np.float32)}, row_format=True)
    assert body == f'{{"predictions": [{printed}]}}'


def test_output_named_bytes_is_sent_as_b64():
    body = rest_json.response_body(
        {"thumbnail_bytes": np.array([b"\xff\xd8"], dtype=object), "label": np.array([b"dogs"], dtype=object)},
        row_format=True,
    )
    assert json.loads(body) == {"predictions": [{"label": "dogs", "thumbnail_bytes": {"b64": "/9g="}}]}


def test_columnar_response_keeps_the_shape():
    body = rest_json.response_body({"a": np.arange(6, dtype=np.int64).reshape(2, 3), "s": np.array(3.5)}, False)
    assert json.loads(body) == {"outputs": {"a": [[0, 1, 2], [3, 4, 5]], "s": 3.5}}


@pytest.mark.parametrize(
    "body, words",
    [
        (b"", "The document is empty"),
        (b"[1]", "Is not object"),
        ({"instances": [1]}, "is not of expected type: string"),
        ({"instances": [[B64], [B64, B64]]}, "Expecting tensor size: 1 but got: 2"),
        ({"instances": [{"b64": "!!"}]}, "Unable to base64 decode"),
        ({"inputs": {"other": B64}}, "Missing named input: image_bytes in 'inputs' object."),
    ],
)
def test_tf_servings_errors(body, words):
    refused(body if isinstance(body, bytes) else json.dumps(body).encode(), words)


def test_numbers_typed_by_the_signature():
    floats = signature(x=tf.float32)
    assert tensors({"instances": [[1, 2.5]]}, floats)["x"].tolist() == [[1.0, 2.5]]
    refused({"instances": [True]}, "is not of expected type: float", floats)
    refused({"instances": [1.5]}, "is not of expected type: int64", signature(x=tf.int64))


def test_a_body_of_empty_lists_is_refused_before_it_is_built():
    """Issue 22: 20 million empty lists in 60 MB took the server to 5.4 GB."""
    body = b'{"instances": [' + b",".join([b"[]"] * (limits.MAX_REST_JSON_VALUES + 1)) + b"]}"
    with pytest.raises(ServingError, match="holds more than"):
        rest_json.parse_json(body)


def test_strings_that_look_like_structure_are_not_counted():
    body = json.dumps({"instances": ["[[[[,,,,{{{{" * 100_000]}).encode()
    assert rest_json.parse_json(body)["instances"][0].startswith("[[[[")


@pytest.mark.parametrize("depth", [limits.MAX_REST_JSON_DEPTH + 1, 100_000])
def test_deep_nesting_is_an_invalid_argument_not_a_recursion_error(depth):
    with pytest.raises(ServingError, match="nests"):
        rest_json.parse_json(b'{"instances": ' + b"[" * depth + b"]" * depth + b"}")


def test_the_worst_accepted_body_stays_within_its_bound():
    """A 64 MB body of the most values allowed, parsed in a process of its own: its peak memory is the
    body, one copy without its strings, and the values' objects."""
    script = textwrap.dedent(f"""
        import resource
        from serving.server import rest_json
        body = b'{{"instances": [' + b",".join([b'[1]'] * ({limits.MAX_REST_JSON_VALUES} // 2 - 2)) + b"]}}"
        body += b" " * (64 * 1024 * 1024 - len(body))
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        rest_json.parse_json(body)
        print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024)
    """)
    grown_mb = int(subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout)
    assert grown_mb < 64 + 40, grown_mb  # a copy of the body and at most ~20 MB of objects
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss > 0


class FakeRegistry:
    model_name = "catdog"
    base_path = "/models/catdog"

    def statuses(self, name):
        return [VersionStatus(3, VersionState.AVAILABLE)]

    def version_path(self, version):
        return f"{self.base_path}/{version}"


def test_metrics_label_only_the_models_served():
    """Issue 22: 2,000 requests for made-up names grew the page from 236 KB to 9.2 MB."""
    metrics = ServingMetrics(FakeRegistry())
    metrics.record_request("catdog", "OK", "Predict", "GRPC", 0.01)
    small = len(metrics.exposition())
    for i in range(2000):
        metrics.record_request(f"made-up-{i}", "NOT_FOUND", "Predict", "GRPC", 0.01)
    text = metrics.exposition().decode()
    assert "made-up" not in text
    assert f'model_name="{UNKNOWN_MODEL_LABEL}",status="NOT_FOUND"}} 2000' in text
    assert len(text) < small + 500


def test_metrics_page_in_tf_servings_format():
    metrics = ServingMetrics(FakeRegistry())
    metrics.record_request("catdog", "OK", "Predict", "GRPC", 0.0001)
    metrics.record_request("catdog", "INVALID_ARGUMENT", "Predict", "GRPC", 0.0001)
    text = metrics.exposition().decode()
    assert (
        ':tensorflow:serving:request_latency_bucket{model_name="catdog",API="Predict",entrypoint="GRPC",'
        'le="32.4"} 0' in text
    )
    assert ':tensorflow:serving:request_latency_count{model_name="catdog",API="Predict",entrypoint="GRPC"} 1' in text
    assert ':tensorflow:cc:saved_model:load_attempt_count{model_path="/models/catdog/3",status="success"} 1' in text
    assert "# HELP" not in text and "_total" not in text
