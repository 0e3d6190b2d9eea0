"""TF Serving's REST JSON, as util/json_tensor.cc reads and writes it: request bodies to input tensors
and tf.Examples, outputs and classification results to response bodies, status and metadata protos to
JSON (https://www.tensorflow.org/tfx/serving/api_rest).

One deliberate difference: a body's JSON is bounded before it becomes Python objects
(limits.MAX_REST_JSON_VALUES values, MAX_REST_JSON_DEPTH levels), since Python holds each value in tens of
bytes whatever its size in the body; TF Serving's rapidjson has no such bound."""

import base64
import binascii
import json
import math
import re
from collections.abc import Mapping

import grpc
import numpy as np
import tensorflow as tf
from google.protobuf import json_format
from tensorflow.core.protobuf import meta_graph_pb2
from tensorflow_serving.apis import classification_pb2, get_model_metadata_pb2, input_pb2, regression_pb2

from components import limits
from serving.server.model_info import SIGNATURE_DEF_FIELD
from serving.status import ServingError

B64_KEY = "b64"
# String outputs whose names end so are binary: TF Serving sends them as {"b64": ...}.
BINARY_OUTPUT_SUFFIX = "_bytes"
ROW_KEY, COLUMNAR_KEY = "instances", "inputs"
ROW_RESPONSE_KEY, COLUMNAR_RESPONSE_KEY = "predictions", "outputs"
SIGNATURE_KEY = "signature_name"
CONTEXT_KEY, EXAMPLES_KEY, RESULTS_KEY = "context", "examples", "results"
# What an error quotes of a JSON value (TF Serving quotes it whole: its TODO says to truncate).
QUOTED_CHARACTERS = 200
# A JSON string, escapes included: removed before the structure is counted.
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
_STRUCTURE = b"[]{}"
_WHITESPACE = b" \t\n\v\f\r"
_BASE64 = re.compile(rb"[A-Za-z0-9+/]*={0,2}")


def _invalid(message: str) -> ServingError:
    return ServingError(grpc.StatusCode.INVALID_ARGUMENT, message)


def _quote(value) -> str:
    text = json.dumps(value)
    return text if len(text) <= QUOTED_CHARACTERS else text[:QUOTED_CHARACTERS] + "..."


def _type_name(value) -> str:
    """rapidjson's type names (JsonTypeString)."""
    if value is None:
        return "Null"
    if value is True:
        return "True"
    if value is False:
        return "False"
    return {dict: "Object", list: "Array", str: "String"}.get(type(value), "Number")


def check_json_size(body: bytes) -> None:
    """Counts the body's values and measures its nesting without building any of it: strings are cut out
    (their content cannot nest), then every value but the first is preceded by a comma or colon, or opens
    a container. A ServingError if it holds more than MAX_REST_JSON_VALUES or nests deeper than
    MAX_REST_JSON_DEPTH."""
    structure = _JSON_STRING.sub(b"", body)
    values = 1 + sum(structure.count(c) for c in (b"[", b"{", b",", b":"))
    if values > limits.MAX_REST_JSON_VALUES:
        raise _invalid(f"JSON Parse error: the body holds more than {limits.MAX_REST_JSON_VALUES} values")
    depth = deepest = 0
    for c in structure.translate(None, bytes(set(range(256)) - set(_STRUCTURE))):
        depth += 1 if c in b"[{" else -1
        deepest = max(deepest, depth)
    if deepest > limits.MAX_REST_JSON_DEPTH:
        raise _invalid(
            f"JSON Parse error: the body nests {deepest} levels deep, more than the "
            f"{limits.MAX_REST_JSON_DEPTH} allowed"
        )


def _first_wins(pairs) -> dict:
    """rapidjson's FindMember finds the first of duplicate keys."""
    result = {}
    for key, value in pairs:
        result.setdefault(key, value)
    return result


def parse_json(body: bytes) -> dict:
    """util/json_tensor.cc ParseJson: a JSON object, or TF Serving's errors."""
    if not body:
        raise _invalid("JSON Parse error: The document is empty")
    check_json_size(body)
    try:
        document = json.loads(body, object_pairs_hook=_first_wins)
    except (ValueError, UnicodeDecodeError) as e:
        raise _invalid(f"JSON Parse error: {e}") from e
    if not isinstance(document, dict):
        raise _invalid(f"JSON Value: {_quote(document)} Is not object")
    return document


def signature_name(document: dict) -> str:
    """FillSignature: the optional signature_name."""
    name = document.get(SIGNATURE_KEY, "")
    if not isinstance(name, str):
        raise _invalid(
            f"JSON Value: {_quote(document)} not formatted correctly. 'signature_name' key must be a string value."
        )
    return name


def _base64_decode(value: dict) -> bytes:
    """absl::Base64Unescape: whitespace skipped, padding optional."""
    text = value[B64_KEY].encode("utf-8", "surrogatepass").translate(None, _WHITESPACE)
    if not _BASE64.fullmatch(text) or len(text.rstrip(b"=")) % 4 == 1:
        raise _invalid("Unable to base64 decode")
    try:
        return base64.b64decode(text.rstrip(b"=") + b"=" * (-len(text.rstrip(b"=")) % 4), validate=True)
    except binascii.Error as e:
        raise _invalid("Unable to base64 decode") from e


def _is_b64(value) -> bool:
    """IsValBase64Object: an object of one key, "b64", holding a string."""
    return isinstance(value, dict) and len(value) == 1 and isinstance(value.get(B64_KEY), str)


def _is_named(value) -> bool:
    return isinstance(value, dict) and not _is_b64(value)


_INT_RANGES = {
    tf.int8: (-(2**31), 2**31 - 1),
    tf.int16: (-(2**31), 2**31 - 1),
    tf.int32: (-(2**31), 2**31 - 1),
    tf.uint8: (-(2**31), 2**31 - 1),
    tf.int64: (-(2**63), 2**63 - 1),
    tf.uint32: (0, 2**32 - 1),
    tf.uint64: (0, 2**64 - 1),
}


def _value(value, dtype: tf.DType):
    """AddValueToTensor: a JSON value of dtype, or TF Serving's type error."""
    if dtype == tf.string:
        if isinstance(value, dict):
            if not _is_b64(value):
                raise _invalid(f"JSON Value: {_quote(value)} not formatted correctly for base64 data")
            return _base64_decode(value)
        if isinstance(value, str):
            return value.encode("utf-8", "surrogatepass")
    elif dtype in (tf.float32, tf.float64, tf.float16, tf.bfloat16):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return value
    elif dtype == tf.bool:
        if isinstance(value, bool):
            return value
    elif dtype in _INT_RANGES:
        low, high = _INT_RANGES[dtype]
        if isinstance(value, int) and not isinstance(value, bool) and low <= value <= high:
            return value
    else:
        raise ServingError(
            grpc.StatusCode.UNIMPLEMENTED, f"Conversion of JSON Value: {_quote(value)} to type: {dtype.name}"
        )
    raise _invalid(f"JSON Value: {_quote(value)} Type: {_type_name(value)} is not of expected type: {dtype.name}")


def _dense_shape(value) -> list[int]:
    """GetDenseTensorShape: each level's size, read along the first elements."""
    shape = []
    while isinstance(value, list):
        shape.append(len(value))
        if not value:
            break
        value = value[0]
    return shape


def _fill(value, level: int, shape: list[int], dtype: tf.DType, out: list) -> None:
    """FillTensorProto: every leaf at the tensor's rank, every list of its level's size."""
    rank = len(shape)
    if not isinstance(value, list):
        if level != rank:
            raise _invalid(
                f"JSON Value: {_quote(value)} found at incorrect level: {level + 1} in the JSON DOM. "
                f"Expected at level: {rank}"
            )
        if isinstance(value, dict) and dtype != tf.string:
            raise _invalid(f"JSON Value: {_quote(value)} Type: Object is not of expected type: {dtype.name}")
        out.append(_value(value, dtype))
        return
    if level >= rank:
        raise _invalid(f"Encountered list at unexpected level: {level} expected < {rank}")
    if len(value) != shape[level]:
        raise _invalid(
            f"Encountered list at unexpected size: {len(value)} at level: {level} expected size: {shape[level]}"
        )
    for item in value:
        _fill(item, level + 1, shape, dtype, out)


class _Tensor:
    """A tensor being read from JSON: its shape and flat values."""

    def __init__(self, value, dtype: tf.DType):
        self.dtype = dtype
        self.shape = _dense_shape(value)
        self.values: list = []
        _fill(value, 0, self.shape, dtype, self.values)


def _to_tensor(values: list, dtype: tf.DType, shape: list[int]) -> tf.Tensor:
    if dtype == tf.string:
        return tf.constant(np.array(values, dtype=object).reshape(shape), dtype=tf.string)
    try:
        return tf.constant(np.array(values, dtype=dtype.as_numpy_dtype).reshape(shape))
    except OverflowError as e:
        raise _invalid(f"a value does not fit {dtype.name}: {e}") from e


class PredictBody:
    """A :predict body, parsed (the signature asked for); its inputs read once the signature is known, as
    FillPredictRequestFromJson reads them after looking the model up."""

    def __init__(self, body: bytes):
        self.document = parse_json(body)
        self.signature_name = signature_name(self.document)
        self.row_format = ROW_KEY in self.document

    def input_tensors(self, signature: str, signature_def: meta_graph_pb2.SignatureDef | None):
        """{input name: tensor} typed by the signature's declared inputs."""
        if signature_def is None:
            raise _invalid(f'Serving signature name: "{signature}" not found in signature def')
        specs = {name: tf.dtypes.as_dtype(info.dtype) for name, info in signature_def.inputs.items()}
        if not specs:
            raise _invalid(f"Failed to get input map for signature: {self.signature_name or 'DEFAULT'}")
        document = self.document
        if ROW_KEY in document and COLUMNAR_KEY in document:
            raise _invalid(
                f"JSON Value: {_quote(document)} Not formatted correctly expecting only one of 'inputs' "
                "or 'instances' keys to exist "
            )
        if ROW_KEY in document:
            instances = document[ROW_KEY]
            if not isinstance(instances, list):
                raise _invalid(f"JSON Value: {_quote(document)} Expecting 'instances' to be an list/array")
            if not instances:
                raise _invalid(f"JSON Value: {_quote(document)} No values in 'instances' array")
            return _from_instances(instances, specs)
        if COLUMNAR_KEY in document:
            return _from_inputs(document[COLUMNAR_KEY], specs)
        raise _invalid("Missing 'inputs' or 'instances' key")


def _from_instances(instances: list, specs: Mapping[str, tf.DType]) -> dict[str, tf.Tensor]:
    """FillTensorMapFromInstancesList."""
    if not isinstance(instances[0], dict) and len(specs) > 1:
        raise _invalid(
            "instances is a plain list, but expecting list of objects as multiple input tensors "
            "required as per tensorinfo_map"
        )
    named = _is_named(instances[0])
    first_input = sorted(specs)[0]  # a protobuf map's iteration order in C++ is not sorted, but one input is
    values: dict[str, list] = {}
    shapes: dict[str, list[int]] = {}
    sizes: dict[str, int] = {}

    def add(item, name: str) -> None:  # AddInstanceItem
        if name not in specs:
            raise _invalid(f"JSON object: does not have named input: {name}")
        tensor = _Tensor(item, specs[name])
        if name not in sizes:
            sizes[name], shapes[name] = len(tensor.values), tensor.shape
        elif sizes[name] != len(tensor.values):
            raise _invalid(f"Expecting tensor size: {sizes[name]} but got: {len(tensor.values)}")
        elif shapes[name] != tensor.shape:
            raise _invalid(
                f"Expecting shape [{','.join(map(str, shapes[name]))}] but got: [{','.join(map(str, tensor.shape))}]"
            )
        values.setdefault(name, []).extend(tensor.values)

    for i, element in enumerate(instances):
        if named:
            if not _is_named(element):
                raise _invalid(f"Expecting object but got list at item {i} of input list")
            for name, item in element.items():
                try:
                    add(item, name)
                except ServingError as e:
                    raise _invalid(
                        f"Failed to process element: {i} key: {name} of 'instances' list. Error: "
                        f"INVALID_ARGUMENT: {e.message}"
                    ) from e
            if set(element) != set(specs):
                raise _invalid(
                    f"Failed to process element: {i} of 'instances' list. JSON object: "
                    f"{_quote(element)} keys must be equal to: {','.join(sorted(specs))}"
                )
        else:
            if _is_named(element):
                raise _invalid(f"Expecting value/list but got object at item {i} of input list")
            try:
                add(element, first_input)
            except ServingError as e:
                raise _invalid(
                    f"Failed to process element: {i} of 'instances' list. Error: INVALID_ARGUMENT: {e.message}"
                ) from e
    return {name: _to_tensor(flat, specs[name], [len(instances), *shapes[name]]) for name, flat in values.items()}


def _from_inputs(inputs, specs: Mapping[str, tf.DType]) -> dict[str, tf.Tensor]:
    """FillTensorMapFromInputsMap: one plain value for a one-input signature, else an object by name."""
    if not isinstance(inputs, dict) or _is_b64(inputs):
        if len(specs) > 1:
            raise _invalid(
                "inputs is a plain value/list, but expecting an object as multiple input tensors "
                "required as per tensorinfo_map"
            )
        name = next(iter(specs))
        tensor = _Tensor(inputs, specs[name])
        return {name: _to_tensor(tensor.values, tensor.dtype, tensor.shape)}
    tensors = {}
    for name, dtype in specs.items():
        if name not in inputs:
            raise _invalid(f"Missing named input: {name} in 'inputs' object.")
        tensor = _Tensor(inputs[name], dtype)
        tensors[name] = _to_tensor(tensor.values, dtype, tensor.shape)
    return tensors


# --- tf.Examples for :classify and :regress (FillClassifyRegressRequestFromJson) ---------------------------


def _add_to_feature(value, name: str, feature: tf.train.Feature) -> None:
    """AddValueToFeature: the feature's kind from its first value, the rest of the same kind."""
    kind = feature.WhichOneof("kind")

    def expect(wanted: str):
        if kind not in (None, wanted):
            raise _invalid(
                f"Unexpected element type in feature: {name} expecting type: "
                f"{ {'bytes_list': 'bytes', 'float_list': 'float', 'int64_list': 'int64'}[kind] }"
            )
        return getattr(feature, wanted)

    if isinstance(value, bool):
        expect("int64_list").value.append(int(value))
    elif isinstance(value, dict):
        if not _is_b64(value):
            raise _invalid(f"Feature: {name} has element with unexpected JSON type: Object")
        expect("bytes_list").value.append(_base64_decode(value))
    elif isinstance(value, str):
        expect("bytes_list").value.append(value.encode("utf-8", "surrogatepass"))
    elif isinstance(value, float):
        expect("float_list").value.append(value)
    elif isinstance(value, int):
        if value >= 2**63:
            raise _invalid(f"Feature: {name} has uint64_t element. Only int64_t is supported.")
        if value < -(2**63):
            raise _invalid(f"Feature: {name} has element with unexpected JSON type: Number")
        expect("int64_list").value.append(value)
    else:
        raise _invalid(f"Feature: {name} has element with unexpected JSON type: {_type_name(value)}")


def _example(value) -> tf.train.Example:
    """MakeExampleFromJsonObject."""
    if not isinstance(value, dict):
        raise _invalid(f"Example must be JSON object but got JSON {_type_name(value)}")
    example = tf.train.Example()
    for name, content in value.items():
        feature = example.features.feature[name]
        for item in content if isinstance(content, list) else [content]:
            _add_to_feature(item, name, feature)
    return example


def examples_input(document: dict, method: str) -> input_pb2.Input:
    """The request's tf.Examples (and context), as ClassificationRequest.input holds them."""
    model_input = input_pb2.Input()
    has_context = CONTEXT_KEY in document
    if has_context:
        model_input.example_list_with_context.context.CopyFrom(_example(document[CONTEXT_KEY]))
    if EXAMPLES_KEY not in document:
        raise _invalid(
            f"JSON Value: {_quote(document)} When method is {method}, key 'examples' is expected and was not found"
        )
    examples = document[EXAMPLES_KEY]
    if not isinstance(examples, list):
        raise _invalid(f"JSON Value: {_quote(document)} Expecting 'examples' value to be an list/array")
    if not examples:
        raise _invalid(f"JSON Value: {_quote(document)} 'examples' value is an empty array")
    target = model_input.example_list_with_context.examples if has_context else model_input.example_list.examples
    for value in examples:
        target.add().CopyFrom(_example(value))
    return model_input


# --- responses (MakeJsonFromTensors, WriteDecimal) ------------------------------------------------------------


def write_decimal(value: float, max_digits: int = 9) -> str:
    """WriteDecimal: absl::StrCat's six digits if they read back as the same number, else max_digits10
    digits (9 for float, 17 for double); '.0' after whole numbers."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "-Infinity" if value < 0 else "Infinity"
    text = f"{value:g}"
    same = np.float32(text) == np.float32(value) if max_digits == 9 else float(text) == value
    if not same:
        text = f"{value:.{max_digits}g}"
    if "." not in text and "e" not in text:
        text += ".0"
    return text


def _json_leaves(array: np.ndarray, binary: bool) -> list[str]:
    """Every value of the array, flat, as JSON text."""
    flat = array.reshape(-1)
    kind = array.dtype.kind
    if kind == "f":
        digits = 9 if array.dtype.itemsize <= 4 else 17
        return [write_decimal(v, digits) for v in flat.astype(np.float64 if digits == 17 else np.float32).tolist()]
    if kind == "b":
        return ["true" if v else "false" for v in flat.tolist()]
    if kind in "iu":
        return [str(v) for v in flat.tolist()]

    def encode(v: bytes) -> str:
        if not binary:
            try:
                return json.dumps(v.decode("utf-8"))
            except UnicodeDecodeError:
                pass  # not text: sent as base64 rather than as bytes no JSON parser reads
        return f'{{"{B64_KEY}": "{base64.b64encode(v).decode("ascii")}"}}'

    return [encode(v) for v in flat.tolist()]


def _nest(leaves: list[str], shape) -> str:
    """AddTensorValues: the flat values in nested lists of the shape (a scalar bare)."""
    if not shape:
        return leaves[0]
    if len(shape) == 1:
        return "[" + ", ".join(leaves) + "]"
    step = len(leaves) // shape[0] if shape[0] else 0
    return "[" + ", ".join(_nest(leaves[i * step : (i + 1) * step], shape[1:]) for i in range(shape[0])) + "]"


def response_body(outputs: Mapping[str, np.ndarray], row_format: bool) -> str:
    """{"predictions": [...]} for row requests, {"outputs": ...} for columnar ones, as JSON text."""
    if not outputs:
        raise _invalid("Cannot convert empty tensor map to JSON")
    arrays = {name: np.asarray(array) for name, array in sorted(outputs.items())}
    leaves = {name: _json_leaves(array, name.endswith(BINARY_OUTPUT_SUFFIX)) for name, array in arrays.items()}
    if not row_format:
        texts = {name: _nest(leaves[name], array.shape) for name, array in arrays.items()}
        inner = next(iter(texts.values())) if len(texts) == 1 else _object(texts)
        return f'{{"{COLUMNAR_RESPONSE_KEY}": {inner}}}'
    batch = None
    for name, array in arrays.items():
        if array.ndim == 0:
            raise _invalid(f"Tensor name: {name} has no shape information ")
        if batch is not None and array.shape[0] != batch:
            raise _invalid(f"Tensor name: {name} has inconsistent batch size: {array.shape[0]} expecting: {batch}")
        batch = array.shape[0]
    rows = []
    for i in range(batch):
        row = {}
        for name, array in arrays.items():
            step = len(leaves[name]) // batch
            row[name] = _nest(leaves[name][i * step : (i + 1) * step], array.shape[1:])
        rows.append(next(iter(row.values())) if len(row) == 1 else _object(row))
    return f'{{"{ROW_RESPONSE_KEY}": [{", ".join(rows)}]}}'


def _object(texts: Mapping[str, str]) -> str:
    return "{" + ", ".join(f"{json.dumps(name)}: {text}" for name, text in texts.items()) + "}"


def classification_body(result: classification_pb2.ClassificationResult) -> str:
    """MakeJsonFromClassificationResult: {"results": [[[label, score], ...], ...]}."""
    if not result.classifications:
        raise _invalid("Cannot convert empty ClassificationResults to JSON")
    rows = (
        "[" + ", ".join(f"[{json.dumps(c.label)}, {write_decimal(c.score)}]" for c in classification.classes) + "]"
        for classification in result.classifications
    )
    return f'{{"{RESULTS_KEY}": [{", ".join(rows)}]}}'


def regression_body(result: regression_pb2.RegressionResult) -> str:
    """MakeJsonFromRegressionResult: {"results": [value, ...]}."""
    if not result.regressions:
        raise _invalid("Cannot convert empty RegressionResults to JSON")
    values = ", ".join(write_decimal(r.value) for r in result.regressions)
    return f'{{"{RESULTS_KEY}": [{values}]}}'


def status_json(response) -> dict:
    """A GetModelStatusResponse as TF Serving prints it (every field, zero values included)."""
    return json_format.MessageToDict(response, including_default_value_fields=True)


def metadata_json(response) -> dict:
    """A GetModelMetadataResponse as TF Serving prints it: proto field names, the Any unpacked."""
    signature_defs = get_model_metadata_pb2.SignatureDefMap()
    response.metadata[SIGNATURE_DEF_FIELD].Unpack(signature_defs)

    def as_dict(message):
        return json_format.MessageToDict(message, including_default_value_fields=True, preserving_proto_field_name=True)

    return {"model_spec": as_dict(response.model_spec), "metadata": {SIGNATURE_DEF_FIELD: as_dict(signature_defs)}}
