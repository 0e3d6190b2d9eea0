"""One loaded SavedModel: its signatures, run on checked inputs the way TF Serving checks them."""

import os
from collections.abc import Iterable, Mapping

import grpc
import numpy as np
import tensorflow as tf
from tensorflow.core.protobuf import meta_graph_pb2, saved_model_pb2

from components import files, limits
from serving.server.request_limits import check_batch_size, check_input_keys
from serving.server.warmup import replay_warmup_requests
from serving.status import ServingError, code_from_number, tf_error_message

SERVE_TAG = tf.saved_model.SERVING
SAVED_MODEL_FILE = "saved_model.pb"


def read_signature_defs(model_dir: str) -> dict[str, meta_graph_pb2.SignatureDef]:
    """The serving meta graph's SignatureDefs, as GetModelMetadata returns them."""
    path = os.path.join(model_dir, SAVED_MODEL_FILE)
    if not os.path.isfile(path):
        raise ServingError(grpc.StatusCode.NOT_FOUND, f"no SavedModel in {model_dir}: {SAVED_MODEL_FILE} is missing")
    try:
        data = files.read_bytes(path, limits.MAX_PROTO_BYTES)
    except files.FileRefused as e:
        raise ServingError(grpc.StatusCode.DATA_LOSS, f"cannot read {e}") from e
    try:
        saved_model = saved_model_pb2.SavedModel.FromString(data)
    except Exception as e:  # noqa: BLE001 - protobuf's DecodeError and friends: all mean a damaged file
        raise ServingError(grpc.StatusCode.DATA_LOSS, f"cannot parse {path}: {e}") from e
    for meta_graph in saved_model.meta_graphs:
        if SERVE_TAG in meta_graph.meta_info_def.tags:
            return dict(meta_graph.signature_def)
    raise ServingError(grpc.StatusCode.NOT_FOUND, f"{path} has no meta graph tagged '{SERVE_TAG}'")


class Servable:
    """Loads the SavedModel in model_dir; raises ServingError if it cannot be served."""

    def __init__(self, model_dir: str):
        self.signature_defs = read_signature_defs(model_dir)
        try:
            self._model = tf.saved_model.load(model_dir, tags=[SERVE_TAG])
        except tf.errors.OpError as e:
            raise ServingError(code_from_number(e.error_code), tf_error_message(e.message)) from e
        except (OSError, ValueError) as e:
            raise ServingError(grpc.StatusCode.DATA_LOSS, f"cannot load {model_dir}: {e}") from e
        replay_warmup_requests(self, model_dir)  # before the registry marks the version AVAILABLE

    def input_specs(self, name: str) -> dict[str, tf.TensorSpec]:
        """The signature's inputs, for checking a request before its tensors are built."""
        return self._signature(name).structured_input_signature[1]

    def _signature(self, name: str):
        if name not in self._model.signatures:
            raise ServingError(grpc.StatusCode.FAILED_PRECONDITION, f'Serving signature key "{name}" not found.')
        return self._model.signatures[name]

    def run(
        self,
        name: str,
        inputs: Mapping[str, tf.Tensor],
        output_filter: Iterable[str] = (),
        max_batch: int = limits.MAX_IMAGES_PER_REQUEST,
    ) -> dict[str, np.ndarray]:
        """Outputs of the signature, only those in output_filter if given."""
        wanted = self.check_request(name, inputs, output_filter, max_batch)
        outputs = self.call(name, inputs)
        return {key: outputs[key] for key in wanted}

    def check_request(
        self,
        name: str,
        inputs: Mapping[str, tf.Tensor],
        output_filter: Iterable[str] = (),
        max_batch: int = limits.MAX_IMAGES_PER_REQUEST,
    ) -> list[str]:
        """Refuses a request the signature cannot answer, before it is queued or run; returns the
        outputs to send back. Every transport's requests pass here (serving.server.predict_core)."""
        function = self._signature(name)
        _check_inputs(name, function.structured_input_signature[1], inputs, max_batch)
        return _check_output_filter(name, function.structured_outputs, output_filter)

    def call(self, name: str, inputs: Mapping[str, tf.Tensor]) -> dict[str, np.ndarray]:
        """Every output of a signature, for inputs check_request accepted."""
        function = self._model.signatures[name]
        try:
            # The flat call, as TF Serving's session->Run feeds the tensors: the signature's declared shapes
            # are not checked against the request (tensorflow/cc/saved_model/util.cc GetInputValues), the
            # graph's own ops decide what they take. The keyword call would refuse a scalar for [None].
            outputs = function._call_flat([inputs[key] for key in function._arg_keywords], function.captured_inputs)
        except tf.errors.OpError as e:  # e.g. bytes that are not an image
            raise ServingError(code_from_number(e.error_code), f"{name}: {tf_error_message(e.message)}") from e
        except UnicodeDecodeError as e:
            # An op failed on these inputs and quoted them in its error (e.g. raw image bytes where serialized
            # tf.Examples belong): the message itself cannot be read, but the fault is the request's.
            raise ServingError(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"{name}: the inputs could not be parsed (the error quotes binary data)",
            ) from e
        return {key: value.numpy() for key, value in outputs.items()}


def _check_inputs(
    signature: str, specs: Mapping[str, tf.TensorSpec], inputs: Mapping[str, tf.Tensor], max_batch: int
) -> None:
    check_input_keys(signature, specs, inputs)
    for key, spec in specs.items():
        tensor = inputs[key]
        if tensor.dtype != spec.dtype:
            raise ServingError(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"input {key} of signature {signature} must be {spec.dtype.name}, got {tensor.dtype.name}",
            )
        check_batch_size(key, tensor, max_batch)


def _check_output_filter(signature: str, outputs: Mapping[str, tf.TensorSpec], output_filter: Iterable[str]):
    """TF Serving's checks and messages (predict_util.cc PreProcessPrediction)."""
    seen = []
    for alias in output_filter:
        if alias not in outputs:
            raise ServingError(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"output tensor alias not found in signature: {alias} Outputs expected to be in the set "
                f"{{{','.join(sorted(outputs))}}}.",
            )
        if alias in seen:
            raise ServingError(grpc.StatusCode.INVALID_ARGUMENT, f"duplicate output tensor alias: {alias}")
        seen.append(alias)
    return seen or list(outputs)
