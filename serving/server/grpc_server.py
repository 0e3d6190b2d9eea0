"""TF Serving's gRPC API over ServedModels: PredictionService (Predict, Classify, Regress, MultiInference,
GetModelMetadata) and ModelService (GetModelStatus, HandleReloadConfigRequest), with TF Serving's checks,
codes and metrics (model_servers/prediction_service_impl.cc, model_service_impl.cc)."""

import functools
from collections.abc import Callable
from concurrent import futures

import grpc
import tensorflow as tf
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    inference_pb2,
    model_management_pb2,
    model_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
    regression_pb2,
)

from components import limits
from serving.server.model_config import ServedModels
from serving.server.model_info import model_metadata, model_status
from serving.server.predict_core import DEFAULT_SIGNATURE, ModelRequest, PredictCall, Predictor
from serving.server.request_limits import as_proto_field, check_input_keys, tensor_from_proto
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


def _require_model_spec(request) -> None:
    """predict_impl.cc, classification_service.cc, get_model_status_impl.cc, ...: !has_model_spec()."""
    if not request.HasField("model_spec"):
        raise ServingError(grpc.StatusCode.INVALID_ARGUMENT, "Missing ModelSpec")


def _model_request(model_spec: model_pb2.ModelSpec) -> ModelRequest:
    choice = model_spec.WhichOneof("version_choice")
    return ModelRequest(
        model_name=model_spec.name,
        version=model_spec.version.value if choice == "version" else None,
        version_label=model_spec.version_label if choice == "version_label" else "",
        signature_name=model_spec.signature_name,
    )


def _decode_inputs(signature: str, signature_def, inputs, max_images: int) -> dict:
    """VerifyRequestInputsSize and GetInputValues: the names, then each tensor as Tensor::FromProto makes it
    (bounded, see request_limits). No signature: nothing to check against, and the servable reports it."""
    if signature_def is None:
        return {}
    specs = {key: tf.TensorSpec(None, tf.as_dtype(info.dtype)) for key, info in signature_def.inputs.items()}
    check_input_keys(signature, specs, inputs)
    return {key: tensor_from_proto(key, proto, specs[key].dtype, max_images) for key, proto in inputs.items()}


def _model_spec(response_spec, name: str, signature: str, version: int) -> None:
    """util.cc MakeModelSpec: the name asked for, the signature resolved, the version that answered."""
    response_spec.name = name
    response_spec.signature_name = signature or DEFAULT_SIGNATURE
    response_spec.version.value = version


class PredictionServicer(prediction_service_pb2_grpc.PredictionServiceServicer):
    def __init__(self, predictor: Predictor):
        self._predictor = predictor

    def _timed(self, request, api: str, work: Callable):
        """RecordModelRequestCount always, RecordRequestLatency if OK (prediction_service_impl.cc)."""
        return self._predictor.timed(request.model_spec.name, api, ENTRYPOINT, work)

    @_abort_on_serving_error
    def Predict(self, request: predict_pb2.PredictRequest, context) -> predict_pb2.PredictResponse:
        return self._timed(request, "Predict", lambda: self._predict(request))

    def _predict(self, request: predict_pb2.PredictRequest) -> predict_pb2.PredictResponse:
        _require_model_spec(request)
        spec = _model_request(request.model_spec)
        call = PredictCall(
            model_name=spec.model_name,
            decode_inputs=lambda signature_def: _decode_inputs(
                spec.signature, signature_def, request.inputs, self._predictor.max_images_per_request
            ),
            version=spec.version,
            version_label=spec.version_label,
            signature_name=spec.signature_name,
            output_filter=list(request.output_filter),
        )
        result = self._predictor.predict(call)
        response = predict_pb2.PredictResponse()
        _model_spec(response.model_spec, spec.model_name, result.signature_name, result.version)
        for key, value in result.outputs.items():
            response.outputs[key].CopyFrom(as_proto_field(value))
        return response

    @_abort_on_serving_error
    def Classify(self, request: classification_pb2.ClassificationRequest, context):
        def classify():
            _require_model_spec(request)
            spec = _model_request(request.model_spec)
            answer = self._predictor.classify(spec, request.input)
            response = classification_pb2.ClassificationResponse(result=answer.result)
            _model_spec(response.model_spec, spec.model_name, spec.signature_name, answer.version)
            return response

        return self._timed(request, "Classify", classify)

    @_abort_on_serving_error
    def Regress(self, request: regression_pb2.RegressionRequest, context):
        def regress():
            _require_model_spec(request)
            spec = _model_request(request.model_spec)
            answer = self._predictor.regress(spec, request.input)
            response = regression_pb2.RegressionResponse(result=answer.result)
            _model_spec(response.model_spec, spec.model_name, spec.signature_name, answer.version)
            return response

        return self._timed(request, "Regress", regress)

    @_abort_on_serving_error
    def MultiInference(self, request: inference_pb2.MultiInferenceRequest, context):
        return self._predictor.multi_inference(request)  # TF Serving records no metrics for it

    @_abort_on_serving_error
    def GetModelMetadata(self, request: get_model_metadata_pb2.GetModelMetadataRequest, context):
        _require_model_spec(request)
        spec = _model_request(request.model_spec)
        return model_metadata(
            self._predictor.models,
            spec.model_name,
            spec.version,
            spec.version_label,
            fields=list(request.metadata_field),
        )


class ModelServicer(model_service_pb2_grpc.ModelServiceServicer):
    def __init__(self, models: ServedModels):
        self._models = models

    @_abort_on_serving_error
    def GetModelStatus(self, request: get_model_status_pb2.GetModelStatusRequest, context):
        _require_model_spec(request)
        spec = request.model_spec
        return model_status(self._models, spec.name, spec.version.value if spec.HasField("version") else None)

    @_abort_on_serving_error
    def HandleReloadConfigRequest(self, request: model_management_pb2.ReloadConfigRequest, context):
        """ServerCore::ReloadConfig: the new list replaces the old one once its models are loaded; a refused
        config is the RPC's error and the old one serves on."""
        self._models.apply(request.config)
        response = model_management_pb2.ReloadConfigResponse()
        response.status.error_code = 0
        return response


def start_server(
    models,
    host: str = "127.0.0.1",
    port: int = 8500,
    max_message_bytes: int = limits.MAX_MESSAGE_BYTES,
    predictor: Predictor | None = None,
    credentials: grpc.ServerCredentials | None = None,
) -> tuple[grpc.Server, int]:
    """Starts serving the models (a ServedModels, or one ModelRegistry); returns the server and its port (the
    one picked if port is 0). predictor carries batching, metrics and the request limits when the REST
    server shares them. With credentials (serving.tls.server_credentials) it speaks TLS only."""
    predictor = predictor or Predictor(models)
    options = [
        ("grpc.max_receive_message_length", max_message_bytes),
        ("grpc.max_send_message_length", max_message_bytes),
        # Without this a second server on a busy port starts too, and the two split the requests.
        ("grpc.so_reuseport", 0),
    ]
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=limits.SERVER_THREADS), options=options)
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(PredictionServicer(predictor), server)
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(ModelServicer(predictor.models), server)
    try:
        address = f"{host}:{port}"
        bound = server.add_secure_port(address, credentials) if credentials else server.add_insecure_port(address)
    except RuntimeError as e:
        raise OSError(f"cannot listen on {host}:{port}: in use, or not an address of this machine") from e
    server.start()
    return server, bound
