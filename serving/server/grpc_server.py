"""TF Serving's gRPC API (PredictionService.Predict and GetModelMetadata, ModelService.GetModelStatus)
over a ModelRegistry. The other methods answer UNIMPLEMENTED, as the generated base classes do."""

import functools
from concurrent import futures
from typing import Optional, Tuple

import grpc
import tensorflow as tf
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)

from components import limits
from serving.server.model_info import model_metadata, model_status
from serving.server.model_registry import ModelRegistry
from serving.server.predict_core import DEFAULT_SIGNATURE, PredictCall, Predictor
from serving.server.request_limits import check_input_keys, tensor_from_proto
from serving.status import ServingError

ENTRYPOINT = "GRPC"  # TF Serving's entrypoint label in the request latency metric


def _abort_on_serving_error(method):
    """A ServingError becomes the RPC's status; the server goes on serving."""

    @functools.wraps(method)
    def wrapper(self, request, context):
        try:
            return method(self, request, context)
        except ServingError as e:
            context.abort(e.code, e.message)

    return wrapper


def _requested(model_spec: model_pb2.ModelSpec) -> dict:
    choice = model_spec.WhichOneof("version_choice")
    return {
        "version": model_spec.version.value if choice == "version" else None,
        "label": model_spec.version_label if choice == "version_label" else "",
    }


def _decode_inputs(signature: str, signature_def, inputs, max_images: int) -> dict:
    """Every input checked against the signature (keys, dtype, declared shape against the values sent, images
    per request) before any is expanded into a tensor. No signature: nothing to check against, and the
    servable reports it."""
    if signature_def is None:
        return {}
    specs = {
        key: tf.TensorSpec(tf.TensorShape(info.tensor_shape), tf.as_dtype(info.dtype))
        for key, info in signature_def.inputs.items()
    }
    check_input_keys(signature, specs, inputs)
    return {key: tensor_from_proto(key, proto, specs[key], max_images) for key, proto in inputs.items()}


class PredictionServicer(prediction_service_pb2_grpc.PredictionServiceServicer):
    def __init__(self, predictor: Predictor):
        self._predictor = predictor

    @_abort_on_serving_error
    def Predict(self, request: predict_pb2.PredictRequest, context) -> predict_pb2.PredictResponse:
        requested = _requested(request.model_spec)
        signature = request.model_spec.signature_name or DEFAULT_SIGNATURE
        call = PredictCall(
            model_name=request.model_spec.name,
            decode_inputs=lambda signature_def: _decode_inputs(
                signature, signature_def, request.inputs, self._predictor.max_images_per_request
            ),
            version=requested["version"],
            version_label=requested["label"],
            signature_name=request.model_spec.signature_name,
            output_filter=list(request.output_filter),
        )
        result = self._predictor.predict(call, ENTRYPOINT)
        response = predict_pb2.PredictResponse()
        response.model_spec.name = request.model_spec.name
        response.model_spec.version.value = result.version
        response.model_spec.signature_name = result.signature_name
        for key, value in result.outputs.items():
            response.outputs[key].CopyFrom(tf.make_tensor_proto(value))
        return response

    @_abort_on_serving_error
    def GetModelMetadata(self, request: get_model_metadata_pb2.GetModelMetadataRequest, context):
        return model_metadata(self._predictor.registry, request.model_spec.name, fields=list(request.metadata_field),
                              **_requested(request.model_spec))


class ModelServicer(model_service_pb2_grpc.ModelServiceServicer):
    def __init__(self, registry: ModelRegistry):
        self._registry = registry

    @_abort_on_serving_error
    def GetModelStatus(self, request: get_model_status_pb2.GetModelStatusRequest, context):
        spec = request.model_spec
        return model_status(self._registry, spec.name, spec.version.value if spec.HasField("version") else None)


def start_server(
    registry: ModelRegistry,
    host: str = "127.0.0.1",
    port: int = 8500,
    max_message_bytes: int = limits.MAX_MESSAGE_BYTES,
    predictor: Optional[Predictor] = None,
    credentials: Optional[grpc.ServerCredentials] = None,
) -> Tuple[grpc.Server, int]:
    """Starts serving the registry's model; returns the server and its port (the one picked if port is 0).
    predictor carries batching, metrics and the request limits when the REST server shares them. With
    credentials (serving.tls.server_credentials) it speaks TLS only."""
    options = [
        ("grpc.max_receive_message_length", max_message_bytes),
        ("grpc.max_send_message_length", max_message_bytes),
        # Without this a second server on a busy port starts too, and the two split the requests.
        ("grpc.so_reuseport", 0),
    ]
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=limits.SERVER_THREADS), options=options)
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
        PredictionServicer(predictor or Predictor(registry)), server
    )
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(ModelServicer(registry), server)
    try:
        address = f"{host}:{port}"
        bound = server.add_secure_port(address, credentials) if credentials else server.add_insecure_port(address)
    except RuntimeError as e:
        raise OSError(f"cannot listen on {host}:{port}: in use, or not an address of this machine") from e
    server.start()
    return server, bound
