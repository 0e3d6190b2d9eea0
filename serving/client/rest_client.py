"""A Predict client over TF Serving's REST API: works against `catdog serve --rest-port` and TF Serving alike."""

import base64
from collections.abc import Sequence

import grpc
import numpy as np
import requests

from components import contract
from serving.client.image_inputs import check_signature, predictions, signature_inputs
from serving.status import ServingError

# TF Serving's HTTP statuses back to the status codes they stand for (400 is ambiguous: INVALID_ARGUMENT).
_CODES_BY_HTTP_STATUS = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    401: grpc.StatusCode.UNAUTHENTICATED,
    403: grpc.StatusCode.PERMISSION_DENIED,
    404: grpc.StatusCode.NOT_FOUND,
    409: grpc.StatusCode.ABORTED,
    429: grpc.StatusCode.RESOURCE_EXHAUSTED,
    499: grpc.StatusCode.CANCELLED,
    501: grpc.StatusCode.UNIMPLEMENTED,
    503: grpc.StatusCode.UNAVAILABLE,
    504: grpc.StatusCode.DEADLINE_EXCEEDED,
}


def predict_url(base_url: str, model_name: str, version: int | None = None, version_label: str = "") -> str:
    path = f"{base_url.rstrip('/')}/v1/models/{model_name}"
    if version is not None:
        path += f"/versions/{version}"
    elif version_label:
        path += f"/labels/{version_label}"
    return path + ":predict"


class RestPredictClient:
    """RestPredictClient("http://127.0.0.1:8501", "catdog").predict([jpeg_bytes]) ->
    [{"class_name": "dogs", "probability": 0.93}]; a failed call raises ServingError with the status
    code the HTTP status stands for."""

    def __init__(
        self,
        base_url: str,
        model_name: str,
        signature_name: str = contract.IMAGE_BYTES_SIGNATURE,
        version: int | None = None,
        version_label: str = "",
        timeout_seconds: float = 30.0,
        verify=True,
        cert=None,
    ):
        if version is not None and version_label:
            raise ValueError("give a version or a version_label, not both")
        check_signature(signature_name)
        self.url = predict_url(base_url, model_name, version, version_label)
        self.signature_name = signature_name
        self.timeout_seconds = timeout_seconds
        self._session = requests.Session()
        # https:// URLs: verify is True (the system's CAs) or a CA file, cert a (certificate, key) pair for
        # mutual TLS (serving.tls.requests_options). Given with each request: requests lets REQUESTS_CA_BUNDLE
        # override a session's own.
        self._tls = {"verify": verify, "cert": cert}

    def predict(self, images: Sequence[bytes]) -> list[dict]:
        """One {class_name, class_id, probability (of the second class), in_distribution, ood_score} per encoded
        image file, in order."""
        rows = self.predict_json(images)["predictions"]
        # Columns as the gRPC client reads them (floats through float32): the same image, the same answer either way.
        columns = {key: np.array([row[key] for row in rows]) for key in rows[0]}
        columns[contract.CLASS_NAME_OUTPUT] = np.char.encode(columns[contract.CLASS_NAME_OUTPUT].astype(str))
        for key in (contract.PROBABILITY_OUTPUT, contract.OOD_SCORE_OUTPUT):
            if key in columns:
                columns[key] = columns[key].astype(np.float32)
        return predictions(columns)

    def predict_json(self, images: Sequence[bytes]) -> dict:
        """The server's JSON answer to a row-format request of base64 images."""
        [values] = signature_inputs(self.signature_name, images).values()
        body = {
            "signature_name": self.signature_name,
            "instances": [{"b64": base64.b64encode(value).decode("ascii")} for value in values],
        }
        try:
            response = self._session.post(self.url, json=body, timeout=self.timeout_seconds, **self._tls)
        except requests.RequestException as e:
            raise ServingError(grpc.StatusCode.UNAVAILABLE, f"{self.url}: {e}") from e
        if response.status_code != 200:
            try:
                message = response.json()["error"]
            except (ValueError, KeyError, TypeError):
                message = response.text[:500]
            code = _CODES_BY_HTTP_STATUS.get(response.status_code, grpc.StatusCode.UNKNOWN)
            raise ServingError(code, f"HTTP {response.status_code}: {message}")
        return response.json()

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> "RestPredictClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
