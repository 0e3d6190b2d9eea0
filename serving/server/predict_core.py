"""The one path a Predict request takes, whichever transport brought it (gRPC or REST): resolve the
version, decode and check the inputs against the signature, run the model (batched if enabled), keep
the outputs asked for, and count the request in the metrics."""

import dataclasses
import functools
import time
from typing import Callable, Dict, Mapping, Optional, Sequence

import numpy as np
import tensorflow as tf
from tensorflow.core.protobuf import meta_graph_pb2

from components import limits
from serving.server.batching import BatchScheduler
from serving.server.metrics import ServingMetrics
from serving.server.model_registry import ModelRegistry
from serving.status import ServingError

DEFAULT_SIGNATURE = tf.saved_model.DEFAULT_SERVING_SIGNATURE_DEF_KEY  # what an empty signature_name means
PREDICT_API = "predict"  # the API label of TF Serving's request_latency metric

# Turns the transport's request body into input tensors; gets the signature's SignatureDef (None if
# the model has no such signature), since JSON values take their dtype from it.
InputDecoder = Callable[[Optional[meta_graph_pb2.SignatureDef]], Mapping[str, tf.Tensor]]


@dataclasses.dataclass(frozen=True)
class PredictCall:
    model_name: str
    decode_inputs: InputDecoder
    version: Optional[int] = None
    version_label: str = ""
    signature_name: str = ""
    output_filter: Sequence[str] = ()


@dataclasses.dataclass(frozen=True)
class PredictResult:
    version: int
    signature_name: str
    outputs: Dict[str, np.ndarray]


class Predictor:
    def __init__(self, registry: ModelRegistry, batching: Optional[BatchScheduler] = None,
                 metrics: Optional[ServingMetrics] = None,
                 max_images_per_request: int = limits.MAX_IMAGES_PER_REQUEST):
        self.registry = registry
        self.batching = batching
        self.metrics = metrics
        self.max_images_per_request = max_images_per_request

    def predict(self, call: PredictCall, entrypoint: str) -> PredictResult:
        """entrypoint names the transport in the metrics (TF Serving's labels: GRPC, REST)."""
        start = time.perf_counter()
        status = "OK"
        try:
            return self._predict(call)
        except ServingError as e:
            status = e.code.name
            raise
        except Exception:
            status = "UNKNOWN"
            raise
        finally:
            if self.metrics is not None:
                self.metrics.record_request(call.model_name, status, PREDICT_API, entrypoint,
                                            time.perf_counter() - start)

    def _predict(self, call: PredictCall) -> PredictResult:
        version, servable = self.registry.servable(call.model_name, call.version, call.version_label)
        signature = call.signature_name or DEFAULT_SIGNATURE
        inputs = call.decode_inputs(servable.signature_defs.get(signature))
        wanted = servable.check_request(signature, inputs, call.output_filter, self.max_images_per_request)
        run = functools.partial(servable.call, signature)
        size = _batch_size(inputs)
        if self.batching is not None and size is not None:
            # The servable object, not just the version number: a reloaded version is a new model.
            outputs = self.batching.run((id(servable), signature), run, inputs, size)
        else:
            outputs = run(inputs)
        return PredictResult(version, signature, {key: outputs[key] for key in wanted})


def _batch_size(inputs: Mapping[str, tf.Tensor]) -> Optional[int]:
    """The rows of a request whose inputs all share a first dimension; None if it cannot be batched."""
    sizes = {tensor.shape[0] if tensor.shape.rank else None for tensor in inputs.values()}
    return sizes.pop() if len(sizes) == 1 else None
