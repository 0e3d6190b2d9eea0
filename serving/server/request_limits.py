"""Checks on a request's inputs before any of it is expanded or run, shared by every transport.

A TensorProto says its shape and carries its values separately; TensorFlow fills a short value list by
repeating the last value, so a 1.5 KB request declaring [2000] would become 2000 images. Here a declared
shape must match the values actually sent, the dtype must be the signature's, and the batch must fit."""

import math
from typing import Iterable, Mapping, Sequence

import grpc
import numpy as np
import tensorflow as tf
from tensorflow.core.framework import tensor_pb2, types_pb2

from components import limits
from serving.status import ServingError

# Where a TensorProto keeps its values when tensor_content is empty, by dtype.
_VALUE_FIELDS = {
    tf.float16: "half_val", tf.bfloat16: "half_val", tf.float32: "float_val", tf.float64: "double_val",
    tf.int8: "int_val", tf.int16: "int_val", tf.int32: "int_val", tf.uint8: "int_val", tf.uint16: "int_val",
    tf.int64: "int64_val", tf.uint32: "uint32_val", tf.uint64: "uint64_val", tf.bool: "bool_val",
    tf.string: "string_val", tf.complex64: "scomplex_val", tf.complex128: "dcomplex_val",
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
    keys = set(keys)
    if keys != set(specs):
        raise _invalid(
            f"signature {signature} takes inputs {sorted(specs)}, got {sorted(keys)}: "
            f"sent extra {sorted(keys - set(specs))}, missing {sorted(set(specs) - keys)}"
        )


def check_batch_size(key: str, shape: Sequence[int], max_batch: int) -> None:
    """The first dimension is the number of images; more than max_batch is refused before any is decoded."""
    if shape and shape[0] > max_batch:
        raise _invalid(f"input {key} has {shape[0]} images, more than the {max_batch} allowed in one request")
    if shape and shape[0] == 0:
        # A zero-row batch makes some graphs (map_fn then conv) fail with a message about filter depth.
        raise _invalid(f"input {key} is an empty batch: send at least one")


def tensor_from_proto(
    key: str, proto: tensor_pb2.TensorProto, spec: tf.TensorSpec, max_batch: int = limits.MAX_IMAGES_PER_REQUEST
) -> tf.Tensor:
    """The input as a tensor, after checking dtype, declared shape against values sent, and batch size."""
    if proto.dtype != spec.dtype.as_datatype_enum:
        raise _invalid(f"input {key} must be {spec.dtype.name}, got {_dtype_name(proto.dtype)}")
    if proto.tensor_shape.unknown_rank:
        raise _invalid(f"input {key} has no shape (unknown rank)")
    shape = [d.size for d in proto.tensor_shape.dim]
    if any(size < 0 for size in shape):
        raise _invalid(f"input {key} declares shape {shape} with an unknown dimension")
    if not spec.shape.is_compatible_with(shape):
        raise _invalid(f"input {key} must have shape {spec.shape}, got {shape}")
    declared = math.prod(shape)
    if proto.tensor_content:
        if spec.dtype == tf.string:
            raise _invalid(f"input {key} is a string tensor: its values go in string_val, not tensor_content")
        sent = len(proto.tensor_content) / np.dtype(spec.dtype.as_numpy_dtype).itemsize
    elif spec.dtype in _VALUE_FIELDS:
        sent = len(getattr(proto, _VALUE_FIELDS[spec.dtype])) / (2 if spec.dtype.is_complex else 1)
    else:
        raise _invalid(f"input {key}: dtype {spec.dtype.name} cannot be sent in a request")
    if sent != declared:
        raise _invalid(f"input {key} declares shape {shape} ({declared} values) but holds {sent:g} values")
    check_batch_size(key, shape, max_batch)
    try:
        return tf.convert_to_tensor(tf.make_ndarray(proto))
    except (TypeError, ValueError) as e:
        raise _invalid(f"input {key} is not a valid TensorProto: {e}") from e
