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
from serving.model_registry import ModelRegistry
from serving.request_limits import check_input_keys, tensor_from_proto
from serving.status import ServingError

DEFAULT_SIGNATURE = tf.saved_model.DEFAULT_SERVING_SIGNATURE_DEF_KEY  # what an empty signature_name means
SIGNATURE_DEF_FIELD = "signature_def"  # the only metadata field TF Serving knows
MAX_MESSAGE_BYTES = 64 * 1024 * 1024
# Requests run in these threads; TF releases the GIL while the graph runs, so they overlap.
WORKER_THREADS = 16


def _abort_on_serving_error(method):
    """A ServingError becomes the RPC's status; the server goes on serving."""

    @functools.wraps(method)
    def wrapper(self, request, context):
        try:
            return method(self, request, context)
        except ServingError as e:
            context.abort(e.code, e.message)

    return wrapper


def _requested(registry: ModelRegistry, model_spec: model_pb2.ModelSpec):
    choice = model_spec.WhichOneof("version_choice")
    return registry.servable(
        model_spec.name,
        version=model_spec.version.value if choice == "version" else None,
        label=model_spec.version_label if choice == "version_label" else "",
    )


class PredictionServicer(prediction_service_pb2_grpc.PredictionServiceServicer):
    def __init__(self, registry: ModelRegistry, max_images_per_request: int = limits.MAX_IMAGES_PER_REQUEST):
        self._registry = registry
        self._max_images = max_images_per_request

    @_abort_on_serving_error
    def Predict(self, request: predict_pb2.PredictRequest, context) -> predict_pb2.PredictResponse:
        version, servable = _requested(self._registry, request.model_spec)
        signature = request.model_spec.signature_name or DEFAULT_SIGNATURE
        specs = servable.input_specs(signature)
        # Every input is checked against the signature before any is expanded into a tensor.
        check_input_keys(signature, specs, request.inputs)
        inputs = {
            key: tensor_from_proto(key, proto, specs[key], self._max_images) for key, proto in request.inputs.items()
        }
        outputs = servable.run(signature, inputs, request.output_filter, self._max_images)
        response = predict_pb2.PredictResponse()
        response.model_spec.name = request.model_spec.name
        response.model_spec.version.value = version
        response.model_spec.signature_name = signature
        for key, value in outputs.items():
            response.outputs[key].CopyFrom(tf.make_tensor_proto(value))
        return response

    @_abort_on_serving_error
    def GetModelMetadata(self, request: get_model_metadata_pb2.GetModelMetadataRequest, context):
        if not request.metadata_field:
            raise ServingError(
                grpc.StatusCode.INVALID_ARGUMENT, "GetModelMetadataRequest must specify at least one metadata_field"
            )
        for field in request.metadata_field:
            if field != SIGNATURE_DEF_FIELD:
                raise ServingError(grpc.StatusCode.INVALID_ARGUMENT, f"Metadata field {field} is not supported")
        version, servable = _requested(self._registry, request.model_spec)
        signature_defs = get_model_metadata_pb2.SignatureDefMap()
        for name, signature_def in servable.signature_defs.items():
            signature_defs.signature_def[name].CopyFrom(signature_def)
        response = get_model_metadata_pb2.GetModelMetadataResponse()
        response.model_spec.name = request.model_spec.name
        response.model_spec.version.value = version
        response.metadata[SIGNATURE_DEF_FIELD].Pack(signature_defs)
        return response


class ModelServicer(model_service_pb2_grpc.ModelServiceServicer):
    def __init__(self, registry: ModelRegistry):
        self._registry = registry

    @_abort_on_serving_error
    def GetModelStatus(self, request: get_model_status_pb2.GetModelStatusRequest, context):
        spec = request.model_spec
        version = spec.version.value if spec.HasField("version") else None
        response = get_model_status_pb2.GetModelStatusResponse()
        for status in self._registry.statuses(spec.name, version):
            entry = response.model_version_status.add()
            entry.version = status.version
            entry.state = get_model_status_pb2.ModelVersionStatus.State.Value(status.state.value)
            if status.error is not None:
                entry.status.error_code = status.error.code.value[0]
                entry.status.error_message = status.error.message
        return response


def start_server(
    registry: ModelRegistry,
    host: str = "127.0.0.1",
    port: int = 8500,
    max_message_bytes: int = MAX_MESSAGE_BYTES,
    max_images_per_request: int = limits.MAX_IMAGES_PER_REQUEST,
    credentials: Optional[grpc.ServerCredentials] = None,
) -> Tuple[grpc.Server, int]:
    """Starts serving the registry's model; returns the server and its port (the one picked if port is 0).
    With credentials (serving.tls.server_credentials) it speaks TLS only."""
    options = [
        ("grpc.max_receive_message_length", max_message_bytes),
        ("grpc.max_send_message_length", max_message_bytes),
        # Without this a second server on a busy port starts too, and the two split the requests.
        ("grpc.so_reuseport", 0),
    ]
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=WORKER_THREADS), options=options)
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
        PredictionServicer(registry, max_images_per_request), server
    )
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(ModelServicer(registry), server)
    try:
        address = f"{host}:{port}"
        bound = server.add_secure_port(address, credentials) if credentials else server.add_insecure_port(address)
    except RuntimeError as e:
        raise OSError(f"cannot listen on {host}:{port}: in use, or not an address of this machine") from e
    server.start()
    return server, bound
