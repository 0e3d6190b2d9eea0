"""One loaded SavedModel: its signatures, run on checked inputs the way TF Serving checks them."""

import os
from typing import Dict, Iterable, List, Mapping

import grpc
import numpy as np
import tensorflow as tf
from tensorflow.core.protobuf import meta_graph_pb2, saved_model_pb2

from serving.status import ServingError, code_from_number, tf_error_message
from serving.warmup import replay_warmup_requests

SERVE_TAG = tf.saved_model.SERVING
SAVED_MODEL_FILE = "saved_model.pb"


def read_signature_defs(model_dir: str) -> Dict[str, meta_graph_pb2.SignatureDef]:
    """The serving meta graph's SignatureDefs, as GetModelMetadata returns them."""
    path = os.path.join(model_dir, SAVED_MODEL_FILE)
    if not os.path.isfile(path):
        raise ServingError(grpc.StatusCode.NOT_FOUND, f"no SavedModel in {model_dir}: {SAVED_MODEL_FILE} is missing")
    with open(path, "rb") as f:
        data = f.read()
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

    def run(
        self, name: str, inputs: Mapping[str, tf.Tensor], output_filter: Iterable[str] = ()
    ) -> Dict[str, np.ndarray]:
        """Outputs of the signature, only those in output_filter if given."""
        wanted = self.check_request(name, inputs, output_filter)
        outputs = self.call(name, inputs)
        return {key: outputs[key] for key in wanted}

    def check_request(self, name: str, inputs: Mapping[str, tf.Tensor], output_filter: Iterable[str] = ()) -> List[str]:
        """Refuses a request the signature cannot answer, before it is queued or run; returns the
        outputs to send back. Every transport's requests pass here (serving.predict_core)."""
        if name not in self._model.signatures:
            raise ServingError(grpc.StatusCode.FAILED_PRECONDITION, f'Serving signature key "{name}" not found.')
        function = self._model.signatures[name]
        _check_inputs(name, function.structured_input_signature[1], inputs)
        return _check_output_filter(name, function.structured_outputs, output_filter)

    def call(self, name: str, inputs: Mapping[str, tf.Tensor]) -> Dict[str, np.ndarray]:
        """Every output of a signature, for inputs check_request accepted."""
        try:
            outputs = self._model.signatures[name](**inputs)
        except tf.errors.OpError as e:  # e.g. bytes that are not an image
            raise ServingError(code_from_number(e.error_code), f"{name}: {tf_error_message(e.message)}") from e
        except UnicodeDecodeError as e:  # TF's message quoted the bad input's bytes, e.g. a JPEG sent as a tf.Example
            raise ServingError(grpc.StatusCode.INVALID_ARGUMENT, f"{name}: the input could not be parsed") from e
        return {key: value.numpy() for key, value in outputs.items()}


def _check_inputs(signature: str, specs: Mapping[str, tf.TensorSpec], inputs: Mapping[str, tf.Tensor]) -> None:
    if set(inputs) != set(specs):
        raise ServingError(
            grpc.StatusCode.INVALID_ARGUMENT,
            f"signature {signature} takes inputs {sorted(specs)}, got {sorted(inputs)}: "
            f"sent extra {sorted(set(inputs) - set(specs))}, missing {sorted(set(specs) - set(inputs))}",
        )
    for key, spec in specs.items():
        tensor = inputs[key]
        if tensor.dtype != spec.dtype:
            raise ServingError(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"input {key} of signature {signature} must be {spec.dtype.name}, got {tensor.dtype.name}",
            )
        if not spec.shape.is_compatible_with(tensor.shape):
            raise ServingError(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"input {key} of signature {signature} must have shape {spec.shape}, got {tensor.shape}",
            )
        # A zero-row batch makes some graphs (map_fn then conv) fail with a message about filter depth.
        if tensor.shape.rank and tensor.shape[0] == 0:
            raise ServingError(grpc.StatusCode.INVALID_ARGUMENT, f"input {key} is an empty batch: send at least one")


def _check_output_filter(signature: str, outputs: Mapping[str, tf.TensorSpec], output_filter: Iterable[str]):
    wanted = list(output_filter) or list(outputs)
    unknown = sorted(set(wanted) - set(outputs))
    if unknown:
        raise ServingError(
            grpc.StatusCode.INVALID_ARGUMENT,
            f"output_filter names {unknown}, not outputs of signature {signature}: {sorted(outputs)}",
        )
    if len(set(wanted)) != len(wanted):
        raise ServingError(grpc.StatusCode.INVALID_ARGUMENT, f"output_filter repeats an output: {wanted}")
    return wanted
