"""A Predict client for the exported model, over gRPC: works against `catdog serve` and TF Serving alike."""

from collections.abc import Sequence

import grpc

from components import contract, limits, protos
from serving.client.image_inputs import check_signature, predictions, signature_inputs
from serving.status import ServingError


class PredictClient:
    """client.predict([jpeg_bytes, png_bytes]) -> [{"class_name": "dogs", "probability": 0.93}, ...].

    version or version_label pins the model version (default: the newest the server has); a failed call
    raises ServingError with the server's status code. credentials (serving.tls.channel_credentials) make it
    speak TLS."""

    def __init__(
        self,
        target: str,
        model_name: str,
        signature_name: str = contract.IMAGE_BYTES_SIGNATURE,
        version: int | None = None,
        version_label: str = "",
        timeout_seconds: float = 30.0,
        max_message_bytes: int = limits.MAX_MESSAGE_BYTES,
        credentials: grpc.ChannelCredentials | None = None,
    ):
        if version is not None and version_label:
            raise ValueError("give a version or a version_label, not both")
        check_signature(signature_name)
        self.target = target
        self.model_name = model_name
        self.signature_name = signature_name
        self.version = version
        self.version_label = version_label
        self.timeout_seconds = timeout_seconds
        options = [
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.max_send_message_length", max_message_bytes),
        ]
        self._channel = (
            grpc.secure_channel(target, credentials, options=options)
            if credentials
            else grpc.insecure_channel(target, options=options)
        )
        self._predict_pb2, prediction_service_pb2_grpc = protos.serving_apis()  # without TensorFlow's runtime
        self._stub = prediction_service_pb2_grpc.PredictionServiceStub(self._channel)

    def predict(self, images: Sequence[bytes]) -> list[dict]:
        """One {class_name, class_id, probability (of the second class)} per encoded image file (JPEG, PNG, GIF
        or BMP), in order."""
        response = self.predict_response(images)
        return predictions({key: protos.to_ndarray(proto) for key, proto in response.outputs.items()})

    def predict_response(self, images: Sequence[bytes]):
        """The raw PredictResponse; its model_spec says which version answered."""
        request = self._predict_pb2.PredictRequest()
        request.model_spec.name = self.model_name
        request.model_spec.signature_name = self.signature_name
        if self.version is not None:
            request.model_spec.version.value = self.version
        elif self.version_label:
            request.model_spec.version_label = self.version_label
        for key, values in signature_inputs(self.signature_name, images).items():
            request.inputs[key].CopyFrom(protos.string_tensor(values))
        try:
            return self._stub.Predict(request, timeout=self.timeout_seconds)
        except grpc.RpcError as e:
            raise ServingError(e.code(), e.details()) from e

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> "PredictClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
