"""TF Serving's REST API (port 8501) over the same Predictor as the gRPC server: model status,
metadata and :predict under /v1/models/..., and Prometheus metrics. Served by tornado in a thread of
its own; requests run in a thread pool, where TF releases the GIL while the graph runs."""

import asyncio
import json
import logging
import re
import ssl
import threading
import urllib.parse
from concurrent import futures
from typing import Optional

import grpc
import tornado.httpserver
import tornado.netutil
import tornado.web

from components import limits
from serving.server import rest_json
from serving.server.metrics import METRICS_PATH
from serving.server.model_info import model_metadata, model_status
from serving.server.predict_core import DEFAULT_SIGNATURE, PredictCall, Predictor
from serving.status import ServingError

log = logging.getLogger(__name__)

ENTRYPOINT = "REST"  # TF Serving's entrypoint label in the request latency metric
# TF Serving's own patterns (http_rest_api_util.cc): a version or a label, then the method or subresource.
PREDICT_PATH = re.compile(
    r"/v1/models/([^/:]+)(?:/versions/(\d+)|/labels/([^/:]+))?:(classify|regress|predict)", re.IGNORECASE
)
STATUS_PATH = re.compile(r"/v1/models(?:/([^/:]+))?(?:/versions/(\d+)|/labels/([^/:]+))?(?:/(metadata))?",
                         re.IGNORECASE)
# tensorflow_model_server's mapping of status codes to HTTP statuses (http_server.cc).
HTTP_STATUS = {
    grpc.StatusCode.CANCELLED: 499,
    grpc.StatusCode.UNKNOWN: 500,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.INTERNAL: 500,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DATA_LOSS: 500,
    grpc.StatusCode.UNAUTHENTICATED: 401,
}


def _model_spec(match) -> dict:
    name, version, label = match.group(1), match.group(2), match.group(3)
    return {
        "model_name": urllib.parse.unquote(name or ""),
        "version": int(version) if version else None,
        "label": urllib.parse.unquote(label or ""),
    }


class ApiHandler(tornado.web.RequestHandler):
    """Everything under /v1/; a path TF Serving would not match is its 400 "Malformed request"."""

    def initialize(self, predictor: Predictor, executor: futures.Executor):
        self.predictor = predictor
        self.executor = executor

    async def get(self):
        await self._answer(self._get)

    async def post(self):
        await self._answer(self._post)

    def _malformed(self) -> ServingError:
        return ServingError(grpc.StatusCode.INVALID_ARGUMENT,
                            f"Malformed request: {self.request.method} {self.request.path}")

    def _get(self) -> dict:
        match = STATUS_PATH.fullmatch(self.request.path)
        if match is None:
            raise self._malformed()
        spec = _model_spec(match)
        if not spec["model_name"]:
            raise ServingError(grpc.StatusCode.INVALID_ARGUMENT, "Missing model name in request.")
        registry = self.predictor.registry
        if match.group(4):  # /metadata
            return rest_json.metadata_json(model_metadata(registry, spec["model_name"], spec["version"], spec["label"]))
        # Like TF Serving, a label does not narrow the status: every version is listed.
        return rest_json.status_json(model_status(registry, spec["model_name"], spec["version"]))

    def _post(self) -> dict:
        match = PREDICT_PATH.fullmatch(self.request.path)
        if match is None:
            raise self._malformed()
        if match.group(4).lower() != "predict":
            raise ServingError(grpc.StatusCode.INVALID_ARGUMENT,
                               f":{match.group(4)} needs a {match.group(4)} signature; this model's signatures are "
                               "predict signatures: use :predict")
        spec = _model_spec(match)
        body = rest_json.PredictBody(self.request.body)
        call = PredictCall(
            model_name=spec["model_name"],
            decode_inputs=lambda signature_def: body.input_tensors(
                body.signature_name or DEFAULT_SIGNATURE, signature_def),
            version=spec["version"],
            version_label=spec["label"],
            signature_name=body.signature_name,
        )
        result = self.predictor.predict(call, ENTRYPOINT)
        return rest_json.response_body(result.outputs, body.row_format)

    async def _answer(self, work) -> None:
        self.set_header("Content-Type", "application/json")
        try:
            answer = await asyncio.get_running_loop().run_in_executor(self.executor, work)
        except ServingError as e:
            self.set_status(HTTP_STATUS.get(e.code, 500))
            answer = {"error": e.message}
        except Exception as e:  # noqa: BLE001 - a bug of ours still answers in TF Serving's error format
            log.exception("%s %s failed", self.request.method, self.request.path)
            self.set_status(500)
            answer = {"error": f"internal error: {e!r}"}
        self.finish(json.dumps(answer))


class MetricsHandler(tornado.web.RequestHandler):
    def initialize(self, predictor: Predictor):
        self.metrics = predictor.metrics

    def get(self):
        self.set_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
        self.finish(self.metrics.exposition())


class RestServer:
    """start() listens (OSError if the port is taken) and serves in a background thread; stop() ends it."""

    def __init__(self, predictor: Predictor, host: str = "127.0.0.1", port: int = 8501,
                 max_body_bytes: int = limits.MAX_MESSAGE_BYTES, ssl_context: Optional[ssl.SSLContext] = None):
        self.predictor = predictor
        self.ssl_context = ssl_context  # serving.tls.server_ssl_context: HTTPS only
        self.host = host
        self.port = port
        self.max_body_bytes = max_body_bytes
        self._executor = futures.ThreadPoolExecutor(max_workers=limits.SERVER_THREADS, thread_name_prefix="rest")
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._thread: Optional[threading.Thread] = None
        self._server: Optional[tornado.httpserver.HTTPServer] = None

    def application(self) -> tornado.web.Application:
        routes = [(r"/v1/.*", ApiHandler, {"predictor": self.predictor, "executor": self._executor})]
        if self.predictor.metrics is not None:
            routes.insert(0, (re.escape(METRICS_PATH), MetricsHandler, {"predictor": self.predictor}))
        return tornado.web.Application(routes)

    def start(self) -> int:
        """Returns the port (the one picked if port is 0)."""
        try:
            sockets = tornado.netutil.bind_sockets(self.port, self.host)
        except OSError as e:
            raise OSError(f"cannot listen on {self.host}:{self.port} (REST): {e.strerror or e}") from e
        bound = sockets[0].getsockname()[1]
        ready = threading.Event()

        def serve():
            self._loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self._loop)
            self._server = tornado.httpserver.HTTPServer(
                self.application(), max_body_size=self.max_body_bytes, ssl_options=self.ssl_context
            )
            self._server.add_sockets(sockets)
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=serve, name="rest-server", daemon=True)
        self._thread.start()
        ready.wait()
        return bound

    def stop(self) -> None:
        if self._loop is None:
            return

        async def close():
            self._server.stop()
            await self._server.close_all_connections()
            self._loop.stop()

        asyncio.run_coroutine_threadsafe(close(), self._loop)
        self._thread.join(timeout=10)
        self._executor.shutdown(wait=False)
