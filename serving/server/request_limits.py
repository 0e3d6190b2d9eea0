"""Request tensors to and from TensorProtos as TF Serving converts them, with the checks made before any
of it is expanded or run, shared by every transport.

A TensorProto says its shape and carries its values separately; TensorFlow fills a short value list by
repeating the last value (as TF Serving does here too), so a 1.5 KB request declaring [2000] would become
2000 images: what a shape may declare is bounded before it is filled."""

import math
from collections.abc import Iterable, Mapping

import grpc
import numpy as np
import tensorflow as tf
from tensorflow.core.framework import tensor_pb2, types_pb2

from components import limits
from serving.status import ServingError

# Where a TensorProto keeps its values when tensor_content is empty, by dtype.
_VALUE_FIELDS = {
    tf.float16: "half_val",
    tf.bfloat16: "half_val",
    tf.float32: "float_val",
    tf.float64: "double_val",
    tf.int8: "int_val",
    tf.int16: "int_val",
    tf.int32: "int_val",
    tf.uint8: "int_val",
    tf.uint16: "int_val",
    tf.int64: "int64_val",
    tf.uint32: "uint32_val",
    tf.uint64: "uint64_val",
    tf.bool: "bool_val",
    tf.string: "string_val",
    tf.complex64: "scomplex_val",
    tf.complex128: "dcomplex_val",
}


def _invalid(message: str) -> ServingError:
    return ServingError(grpc.StatusCode.INVALID_ARGUMENT, message)


def _dtype_name(number: int) -> str:
    """TensorFlow's name (float32, resource), else the enum's, else the number."""
    try:
        return tf.as_dtype(number).name
    except TypeError:
        pass
    try:
        return types_pb2.DataType.Name(number)
    except ValueError:
        return f"dtype number {number}"


def check_input_keys(signature: str, specs: Mapping[str, tf.TensorSpec], keys: Iterable[str]) -> None:
    """TF Serving's checks of the input names (predict_util.cc VerifyRequestInputsSize, then
    tensorflow/cc/saved_model/util.cc GetInputValues), with their messages."""
    keys = set(keys)
    if len(keys) != len(specs):
        return_keys = ",".join(sorted(keys))
        raise _invalid(
            f"input size does not match signature: {len(keys)}!={len(specs)} len({{{return_keys}}}) != "
            f"len({{{','.join(sorted(specs))}}}). Sent extra: {{{','.join(sorted(keys - set(specs)))}}}. "
            f"Missing but required: {{{','.join(sorted(set(specs) - keys))}}}."
        )
    for alias in sorted(set(specs) - keys):
        raise _invalid(f"Signature input alias: {alias} not found in request and no defaults were provided.")


def check_batch_size(key: str, tensor: tf.Tensor, max_images: int) -> None:
    """Every string of a string input is one image (or one tf.Example holding one): more than max_images
    are refused before any is decoded, whatever the shape holding them."""
    if tensor.dtype != tf.string or not tensor.shape.is_fully_defined():
        return
    images = tensor.shape.num_elements()
    if images > max_images:
        raise _invalid(f"input {key} has {images} images, more than the {max_images} allowed in one request")
    if images == 0:
        # A zero-row batch makes some graphs (map_fn then conv) fail with a message about filter depth.
        raise _invalid(f"input {key} is an empty batch: send at least one")


def tensor_from_proto(
    key: str, proto: tensor_pb2.TensorProto, dtype: tf.DType, max_images: int = limits.MAX_IMAGES_PER_REQUEST
) -> tf.Tensor:
    """The input as Tensor::FromProto makes it, whatever its shape (TF Serving checks none against the
    signature): typed values shorter than the shape are filled with the last one (none: zeros), more are
    cut; tensor_content must hold the shape exactly. What a shape may declare is bounded first, since a
    few bytes can declare any size: a string tensor's values are images (max_images), a numeric one's
    MAX_REQUEST_TENSOR_ELEMENTS."""
    if proto.dtype != dtype.as_datatype_enum:
        raise _invalid(f"input {key} must be {dtype.name}, got {_dtype_name(proto.dtype)}")
    shape = [d.size for d in proto.tensor_shape.dim]
    if proto.tensor_shape.unknown_rank or any(size < 0 for size in shape):
        raise _invalid(f"tensor parsing error: {key}")
    declared = math.prod(shape)
    bound = max_images if dtype == tf.string else limits.MAX_REQUEST_TENSOR_ELEMENTS
    if declared > bound:
        what = "images" if dtype == tf.string else "values"
        raise _invalid(
            f"input {key} declares shape {shape}: {declared} {what}, more than the {bound} allowed in one request"
        )
    if dtype not in _VALUE_FIELDS:
        raise _invalid(f"input {key}: dtype {dtype.name} cannot be sent in a request")
    if proto.tensor_content:
        if dtype == tf.string or len(proto.tensor_content) != declared * dtype.size:
            raise _invalid(f"tensor parsing error: {key}")
        return tf.constant(np.frombuffer(proto.tensor_content, dtype.as_numpy_dtype).reshape(shape))
    values = getattr(proto, _VALUE_FIELDS[dtype])
    per_value = 2 if dtype.is_complex else 1
    if len(values) == declared * per_value:
        try:
            return tf.constant(tf.make_ndarray(proto))
        except (TypeError, ValueError) as e:
            raise _invalid(f"tensor parsing error: {key}: {e}") from e
    if dtype == tf.string:
        flat = list(values[:declared]) + [values[-1] if values else b""] * max(0, declared - len(values))
        return tf.constant(np.array(flat, dtype=object).reshape(shape), dtype=tf.string)
    flat = _values_array(values, dtype)
    if len(flat) >= declared:
        flat = flat[:declared]
    else:
        fill = flat[-1] if len(flat) else np.zeros((), dtype.as_numpy_dtype)
        flat = np.concatenate([flat, np.full(declared - len(flat), fill, dtype.as_numpy_dtype)])
    return tf.constant(flat.reshape(shape))


def _values_array(values, dtype: tf.DType) -> np.ndarray:
    """A typed field's values as a flat array of dtype."""
    if dtype in (tf.float16, tf.bfloat16):
        return np.array(values, np.uint16).view(dtype.as_numpy_dtype)
    if dtype.is_complex:
        parts = np.array(values, dtype.real_dtype.as_numpy_dtype)
        return parts[: len(parts) - len(parts) % 2].view(dtype.as_numpy_dtype)
    return np.array(values, dtype.as_numpy_dtype)


def as_proto_field(array: np.ndarray) -> tensor_pb2.TensorProto:
    """An output as Tensor::AsProtoField writes it, TF Serving's default: values in the dtype's typed field
    (float_val, int64_val, string_val, ...), never tensor_content."""
    dtype = tf.as_dtype(array.dtype) if array.dtype != object else tf.string
    proto = tensor_pb2.TensorProto(dtype=dtype.as_datatype_enum)
    for size in array.shape:
        proto.tensor_shape.dim.add(size=size)
    field = getattr(proto, _VALUE_FIELDS[dtype])
    flat = array.ravel()
    if dtype in (tf.float16, tf.bfloat16):
        field.extend(flat.view(np.uint16).tolist())  # half_val holds the bits
    elif dtype.is_complex:
        field.extend(flat.view(flat.real.dtype).tolist())  # real, imaginary, real, ...
    else:
        field.extend(flat.tolist())
    return proto
