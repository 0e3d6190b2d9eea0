"""TF Serving's REST API (port 8501) over the same Predictor as the gRPC server: model status, metadata,
:predict, :classify and :regress under /v1/models/..., and Prometheus metrics. Served by tornado in a
thread of its own; requests run in a thread pool, where TF releases the GIL while the graph runs.

It answers as tensorflow_model_server's does (model_servers/http_server.cc, http_rest_api_handler.cc,
http_rest_api_util.cc): every method reaches the handler (PUT and DELETE get its JSON 400, OPTIONS is a CORS
preflight), paths match case-insensitively but the method after ':' must be lower case, gzip bodies are
uncompressed, and every request is counted in the metrics. One deliberate difference: a body larger than
max_body_bytes (after uncompressing) is refused with {"error": ...}; TF Serving reads any size."""

import asyncio
import json
import logging
import re
import ssl
import threading
import time
import urllib.parse
from concurrent import futures

import grpc
import tornado.httpserver
import tornado.netutil
import tornado.web

from components import limits
from serving.server import rest_json
from serving.server.metrics import METRICS_PATH
from serving.server.model_info import model_metadata, model_status
from serving.server.predict_core import DEFAULT_SIGNATURE, ModelRequest, PredictCall, Predictor
from serving.status import ServingError

log = logging.getLogger(__name__)

ENTRYPOINT = "REST"  # TF Serving's entrypoint label in the request latency metric
# http_rest_api_util.cc kPredictionApiGegex and kModelStatusApiRegex. (?i) covers the method too, so
# ':PREDICT' matches and is then no method (ProcessRequest compares it case-sensitively). RE2's \d is
# ASCII only, as [0-9] is here.
PREDICT_PATH = re.compile(
    r"/v1/models/([^/:]+)(?:/versions/([0-9]+)|/labels/([^/:]+))?:(classify|regress|predict)", re.IGNORECASE
)
STATUS_PATH = re.compile(
    r"/v1/models(?:/([^/:]+))?(?:/versions/([0-9]+)|/labels/([^/:]+))?(?:/(metadata))?", re.IGNORECASE
)
API_PATH = r"(?i)/v1/.*"  # http_rest_api_util.h kHTTPRestApiHandlerPathRegex
ORIGIN = re.compile(r"https?://")
MAX_VERSION = 2**63 - 1
# A body over the limit is read to its end and dropped, so the client gets the error instead of a reset
# connection; beyond this many times the limit the connection is closed unread.
DRAIN_FACTOR = 4
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


def _invalid(message: str) -> ServingError:
    return ServingError(grpc.StatusCode.INVALID_ARGUMENT, message)


def model_request(match, signature_name: str = "") -> ModelRequest:
    """ParseModelInfo, then FillModelSpecWithNameVersionAndLabel."""
    name, version, label = match.group(1), match.group(2), match.group(3)
    if version and int(version) > MAX_VERSION:
        raise _invalid(f"Failed to convert version: {version} to numeric.")
    return ModelRequest(
        urllib.parse.unquote(name or ""),
        int(version) if version else None,
        urllib.parse.unquote(label or ""),
        signature_name,
    )


@tornado.web.stream_request_body
class ApiHandler(tornado.web.RequestHandler):
    """Everything under /v1/, whatever the method; a path TF Serving would not match is its 400
    "Malformed request"."""

    SUPPORTED_METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS")

    def initialize(self, predictor: Predictor, executor: futures.Executor, max_body_bytes: int):
        self.predictor = predictor
        self.executor = executor
        self.max_body_bytes = max_body_bytes
        self.chunks = []
        self.received = 0

    def prepare(self):
        self.start = time.perf_counter()
        self.request.connection.set_max_body_size(self.max_body_bytes * DRAIN_FACTOR)

    def data_received(self, chunk: bytes) -> None:
        # Uncompressed already (decompress_request): the limit holds for what the body expands to.
        self.received += len(chunk)
        if self.received <= self.max_body_bytes:
            self.chunks.append(chunk)
        else:
            self.chunks = []

    async def get(self):
        await self._answer()

    post = put = delete = patch = get

    async def options(self):
        """http_server.cc: a CORS preflight needs an http(s) Origin; no body either way."""
        ok = ORIGIN.search(self.request.headers.get("Origin", "")) is not None
        self._count("", "", "OK" if ok else "FAILED_PRECONDITION")
        self.set_status(200 if ok else 400)
        self.clear_header("Content-Type")
        self.finish()

    def _malformed(self) -> ServingError:
        return _invalid(f"Malformed request: {self.request.method} {self.request.path}")

    def _body(self) -> bytes:
        if self.received > self.max_body_bytes:
            raise _invalid(
                f"the request body holds {self.received} bytes, more than the {self.max_body_bytes} "
                "allowed (catdog serve --max-message-mb)"
            )
        return b"".join(self.chunks)

    def _route(self) -> tuple[str, str, object]:
        """(model name, method) for the metrics, and the work to run."""
        method = self.request.method
        if method == "POST":
            match = PREDICT_PATH.fullmatch(self.request.path)
            if match is not None:
                name = urllib.parse.unquote(match.group(1))
                verb = match.group(4)
                work = {"predict": self._predict, "classify": self._classify, "regress": self._regress}.get(verb)
                if work is None:  # ':PREDICT': matched, but no method of that name
                    return name, verb, self._raise(self._malformed())
                return name, verb, lambda: work(match)
        elif method == "GET":
            match = STATUS_PATH.fullmatch(self.request.path)
            if match is not None:
                return urllib.parse.unquote(match.group(1) or ""), "", lambda: self._status(match)
        return "", "", self._raise(self._malformed())

    @staticmethod
    def _raise(error: ServingError):
        def work():
            raise error

        return work

    def _status(self, match) -> str:
        spec = model_request(match)
        if not spec.model_name:
            raise _invalid("Missing model name in request.")
        models = self.predictor.models
        if match.group(4):  # /metadata
            answer = rest_json.metadata_json(model_metadata(models, spec.model_name, spec.version, spec.version_label))
        else:
            # As TF Serving, a label does not narrow the status: every version is listed.
            answer = rest_json.status_json(model_status(models, spec.model_name, spec.version))
        return json.dumps(answer)

    def _predict(self, match) -> str:
        spec = model_request(match)  # the path is parsed first, then the body
        body = rest_json.PredictBody(self._body())
        call = PredictCall(
            model_name=spec.model_name,
            decode_inputs=lambda signature_def: body.input_tensors(
                body.signature_name or DEFAULT_SIGNATURE, signature_def
            ),
            version=spec.version,
            version_label=spec.version_label,
            signature_name=body.signature_name,
        )
        result = self.predictor.predict(call)
        return rest_json.response_body(result.outputs, body.row_format)

    def _examples_request(self, match, method: str):
        """FillClassifyRegressRequestFromJson: the whole body read before the model is looked up."""
        spec = model_request(match)
        document = rest_json.parse_json(self._body())
        signature = rest_json.signature_name(document)
        return ModelRequest(spec.model_name, spec.version, spec.version_label, signature), rest_json.examples_input(
            document, method
        )

    def _classify(self, match) -> str:
        spec, examples = self._examples_request(match, "classify")
        return rest_json.classification_body(self.predictor.classify(spec, examples).result)

    def _regress(self, match) -> str:
        spec, examples = self._examples_request(match, "regress")
        return rest_json.regression_body(self.predictor.regress(spec, examples).result)

    def _count(self, model_name: str, method: str, status: str) -> None:
        metrics = self.predictor.metrics
        if metrics is not None:  # RecordModelRequestCount for every request, the latency of OK ones
            metrics.record_request(model_name, status, method, ENTRYPOINT, time.perf_counter() - self.start)

    async def _answer(self) -> None:
        self.set_header("Content-Type", "application/json")
        model_name, method, work = self._route()
        status = "OK"
        try:
            answer = await asyncio.get_running_loop().run_in_executor(self.executor, work)
        except ServingError as e:
            status = e.code.name
            self.set_status(HTTP_STATUS.get(e.code, 500))
            answer = json.dumps({"error": e.message})
        except Exception as e:  # noqa: BLE001 - a bug of ours still answers in TF Serving's error format
            log.exception("%s %s failed", self.request.method, self.request.path)
            status = "UNKNOWN"
            self.set_status(500)
            answer = json.dumps({"error": f"internal error: {e!r}"})
        self._count(model_name, method, status)
        self.finish(answer)


class MetricsHandler(tornado.web.RequestHandler):
    def initialize(self, predictor: Predictor):
        self.metrics = predictor.metrics

    def get(self):
        self.set_header("Content-Type", "text/plain")
        self.finish(self.metrics.exposition())


class RestServer:
    """start() listens (OSError if the port is taken) and serves in a background thread; stop() ends it."""

    def __init__(
        self,
        predictor: Predictor,
        host: str = "127.0.0.1",
        port: int = 8501,
        max_body_bytes: int = limits.MAX_MESSAGE_BYTES,
        ssl_context: ssl.SSLContext | None = None,
    ):
        self.predictor = predictor
        self.ssl_context = ssl_context  # serving.tls.server_ssl_context: HTTPS only
        self.host = host
        self.port = port
        self.max_body_bytes = max_body_bytes
        self._executor = futures.ThreadPoolExecutor(max_workers=limits.SERVER_THREADS, thread_name_prefix="rest")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: tornado.httpserver.HTTPServer | None = None

    def application(self) -> tornado.web.Application:
        options = {"predictor": self.predictor, "executor": self._executor, "max_body_bytes": self.max_body_bytes}
        routes = [(API_PATH, ApiHandler, options)]
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
                self.application(),
                max_body_size=self.max_body_bytes * DRAIN_FACTOR,
                ssl_options=self.ssl_context,
                decompress_request=True,  # Content-Encoding: gzip, as TF Serving's net_http reads it
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
