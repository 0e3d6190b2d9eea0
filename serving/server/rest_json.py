"""TF Serving's REST JSON: request bodies to input tensors, outputs to response bodies, status and
metadata protos to JSON, the same way tensorflow_model_server writes them
(https://www.tensorflow.org/tfx/serving/api_rest)."""

import base64
import binascii
import json
from typing import Any, Dict, Mapping, Optional

import grpc
import numpy as np
import tensorflow as tf
from google.protobuf import json_format
from tensorflow.core.protobuf import meta_graph_pb2
from tensorflow_serving.apis import get_model_metadata_pb2

from serving.server.model_info import SIGNATURE_DEF_FIELD
from serving.status import ServingError

B64_KEY = "b64"
# String outputs whose names end so are binary: TF Serving sends them as {"b64": ...}.
BINARY_OUTPUT_SUFFIX = "_bytes"
ROW_KEY, COLUMNAR_KEY = "instances", "inputs"
ROW_RESPONSE_KEY, COLUMNAR_RESPONSE_KEY = "predictions", "outputs"


def _invalid(message: str) -> ServingError:
    return ServingError(grpc.StatusCode.INVALID_ARGUMENT, message)


class PredictBody:
    """A parsed :predict body: the signature asked for and the inputs in row or columnar form."""

    def __init__(self, body: bytes):
        try:
            parsed = json.loads(body)
        except (ValueError, UnicodeDecodeError) as e:
            raise _invalid(f"JSON Parse error: {e}") from e
        if not isinstance(parsed, dict):
            raise _invalid("JSON Value: the request body must be a JSON object")
        if (ROW_KEY in parsed) == (COLUMNAR_KEY in parsed):
            raise _invalid(f"Missing 'inputs' or 'instances' key" if ROW_KEY not in parsed else
                           "Not formatted correctly expecting only one of 'inputs' or 'instances' keys exist")
        self.signature_name = parsed.get("signature_name", "")
        if not isinstance(self.signature_name, str):
            raise _invalid("'signature_name' key must be a string value")
        self.row_format = ROW_KEY in parsed
        self._data = parsed[ROW_KEY] if self.row_format else parsed[COLUMNAR_KEY]
        if self.row_format and (not isinstance(self._data, list) or not self._data):
            raise _invalid("Expecting 'instances' to be a non-empty list/array")

    def input_tensors(self, signature_name: str, signature_def: Optional[meta_graph_pb2.SignatureDef]):
        """{input name: tensor} typed by the signature's declared inputs."""
        if signature_def is None:
            raise _invalid(f'Serving signature name: "{signature_name}" not found in signature def')
        specs = signature_def.inputs
        if self.row_format:
            columns = self._row_columns(list(specs))
        elif _is_named(self._data):
            columns = self._data
        elif len(specs) == 1:
            columns = {next(iter(specs)): self._data}
        else:
            raise _invalid(f"'inputs' must name each of the signature's inputs {sorted(specs)}")
        unknown = sorted(set(columns) - set(specs))
        if unknown:
            raise _invalid(f"signature {signature_name} takes inputs {sorted(specs)}, got unknown {unknown}")
        return {name: _tensor(name, value, tf.dtypes.as_dtype(specs[name].dtype)) for name, value in columns.items()}

    def _row_columns(self, names) -> Dict[str, list]:
        if not all(_is_named(instance) for instance in self._data):
            if any(_is_named(instance) for instance in self._data):
                raise _invalid("'instances' mixes objects of named inputs with bare values")
            if len(names) != 1:
                raise _invalid(f"each instance must be an object naming the signature's inputs {sorted(names)}")
            return {names[0]: self._data}
        keys = set(self._data[0])
        for i, instance in enumerate(self._data):
            if set(instance) != keys:
                raise _invalid(f"instance {i} names inputs {sorted(instance)}, instance 0 names {sorted(keys)}")
        return {key: [instance[key] for instance in self._data] for key in keys}


def _is_named(value) -> bool:
    """An object of named inputs, as opposed to a {"b64": ...} value."""
    return isinstance(value, dict) and set(value) != {B64_KEY}


def _decode_string(value, name: str):
    if isinstance(value, list):
        return [_decode_string(v, name) for v in value]
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, dict) and set(value) == {B64_KEY} and isinstance(value[B64_KEY], str):
        try:
            return base64.b64decode(value[B64_KEY], validate=True)
        except binascii.Error as e:
            raise _invalid(f"input {name}: Unable to base64 decode: {e}") from e
    raise _invalid(f"input {name} is a string tensor: expected strings or {{\"b64\": ...}}, got {json.dumps(value)[:80]}")


def _tensor(name: str, value: Any, dtype: tf.DType) -> tf.Tensor:
    if dtype == tf.string:
        array = np.array(_decode_string(value, name), dtype=object)
        if not all(isinstance(v, bytes) for v in array.flat):
            raise _invalid(f"input {name}: lists of different lengths (every row needs the same shape)")
    else:
        try:
            array = np.array(value, dtype=dtype.as_numpy_dtype)
        except (TypeError, ValueError) as e:
            raise _invalid(f"input {name} must hold {dtype.name} values of one shape: {e}") from e
    return tf.constant(array, dtype=dtype)


def _json_value(array: np.ndarray, binary: bool):
    if array.dtype == object or array.dtype.kind == "S":
        def encode(v: bytes):
            if not binary:
                try:
                    return v.decode("utf-8")
                except UnicodeDecodeError:
                    pass
            return {B64_KEY: base64.b64encode(v).decode("ascii")}

        return np.vectorize(encode, otypes=[object])(array).tolist() if array.ndim else encode(array.item())
    if array.dtype.kind == "f":
        # The shortest decimal that reads back as the same float32/float64: answers equal gRPC's bit for bit.
        shortest = np.vectorize(float, otypes=[object])(array.astype(str))
        return shortest.tolist() if array.ndim else shortest.item()
    return array.tolist()


def response_body(outputs: Mapping[str, np.ndarray], row_format: bool) -> dict:
    """{"predictions": [...]} for row requests, {"outputs": ...} for columnar ones."""
    values = {name: _json_value(np.asarray(array), name.endswith(BINARY_OUTPUT_SUFFIX))
              for name, array in sorted(outputs.items())}
    if not row_format:
        return {COLUMNAR_RESPONSE_KEY: next(iter(values.values())) if len(values) == 1 else values}
    rows = {np.asarray(array).shape[:1] for array in outputs.values()}
    if len(rows) != 1 or rows == {()}:
        raise _invalid("outputs do not share a batch dimension and cannot be returned as rows; send 'inputs' "
                       "(columnar) instead of 'instances'")
    if len(values) == 1:
        return {ROW_RESPONSE_KEY: next(iter(values.values()))}
    (count,) = rows.pop()
    return {ROW_RESPONSE_KEY: [{name: value[i] for name, value in values.items()} for i in range(count)]}


def status_json(response) -> dict:
    """A GetModelStatusResponse as TF Serving prints it (every field, zero values included)."""
    return json_format.MessageToDict(response, including_default_value_fields=True)


def metadata_json(response) -> dict:
    """A GetModelMetadataResponse as TF Serving prints it: proto field names, the Any unpacked."""
    signature_defs = get_model_metadata_pb2.SignatureDefMap()
    response.metadata[SIGNATURE_DEF_FIELD].Unpack(signature_defs)

    def as_dict(message):
        return json_format.MessageToDict(message, including_default_value_fields=True,
                                         preserving_proto_field_name=True)

    return {"model_spec": as_dict(response.model_spec), "metadata": {SIGNATURE_DEF_FIELD: as_dict(signature_defs)}}
