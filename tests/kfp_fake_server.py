"""A stand-in for the Kubeflow Pipelines v2beta1 REST API on 127.0.0.1: it keeps pipelines, versions,
experiments and runs in memory and records every request, for what kfp 2.5's Client calls."""

import dataclasses
import email.parser
import email.policy
import itertools
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

API = "/apis/v2beta1"


@dataclasses.dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    body: bytes


@dataclasses.dataclass
class FakeKfp:
    requests: list[Request] = dataclasses.field(default_factory=list)
    pipelines: dict[str, str] = dataclasses.field(default_factory=dict)  # id -> name
    versions: dict[str, tuple[str, bytes]] = dataclasses.field(default_factory=dict)  # id -> (pipeline id, package)
    experiments: dict[str, str] = dataclasses.field(default_factory=dict)  # id -> name
    runs: dict[str, dict] = dataclasses.field(default_factory=dict)  # id -> the body it was created with
    _ids: itertools.count = dataclasses.field(default_factory=lambda: itertools.count(1))

    def new_id(self, kind: str) -> str:
        return f"{kind}-{next(self._ids)}"

    def experiment_named(self, name: str) -> str | None:
        return next((i for i, n in self.experiments.items() if n == name), None)


def _display_name_filter(query: dict[str, str]) -> str | None:
    """The name an EQUALS display_name filter asks for (the only filter the Client sends here)."""
    if "filter" not in query:
        return None
    predicate = json.loads(query["filter"])["predicates"][0]
    return predicate["stringValue"] if predicate["key"] == "display_name" else None


def _uploaded_file(headers, body: bytes) -> bytes:
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {headers['Content-Type']}\r\n\r\n".encode() + body
    )
    part = next(p for p in message.iter_parts() if p.get_param("name", header="content-disposition") == "uploadfile")
    return part.get_payload(decode=True)


def _handler(state: FakeKfp):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # quiet test output
            pass

        def _reply(self, payload: dict, status: int = 200) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _handle(self, method: str) -> None:
            url = urlparse(self.path)
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            state.requests.append(Request(method, url.path, query, body))
            route = (method, url.path[len(API) :] if url.path.startswith(API) else url.path)
            self._reply(*self._answer(route, query, body))

        def _answer(self, route, query, body) -> tuple[dict, int]:
            method, path = route
            if route == ("GET", "/healthz"):
                return {"multi_user": False}, 200
            if route == ("GET", "/pipelines"):
                name = _display_name_filter(query)
                found = [{"pipeline_id": i, "display_name": n} for i, n in state.pipelines.items() if n == name]
                return ({"pipelines": found, "total_size": len(found)} if found else {}), 200
            if route == ("POST", "/pipelines/upload"):
                pipeline_id, version_id = state.new_id("pipeline"), state.new_id("version")
                state.pipelines[pipeline_id] = query["name"]
                state.versions[version_id] = (pipeline_id, _uploaded_file(self.headers, body))
                return {"pipeline_id": pipeline_id, "display_name": query["name"]}, 200
            if route == ("POST", "/pipelines/upload_version"):
                if query.get("pipelineid") not in state.pipelines:
                    return {"error": "no such pipeline", "code": 5}, 404
                version_id = state.new_id("version")
                state.versions[version_id] = (query["pipelineid"], _uploaded_file(self.headers, body))
                return {
                    "pipeline_id": query["pipelineid"],
                    "pipeline_version_id": version_id,
                    "display_name": query["name"],
                }, 200
            if method == "GET" and path.startswith("/pipelines/") and path.endswith("/versions"):
                pipeline_id = path.split("/")[2]
                found = [
                    {"pipeline_id": p, "pipeline_version_id": v}
                    for v, (p, _) in state.versions.items()
                    if p == pipeline_id
                ]
                return {"pipeline_versions": found[::-1], "total_size": len(found)}, 200
            if route == ("GET", "/experiments"):
                experiment_id = state.experiment_named(_display_name_filter(query))
                if experiment_id is None:
                    return {}, 200
                return {
                    "experiments": [{"experiment_id": experiment_id, "display_name": state.experiments[experiment_id]}]
                }, 200
            if route == ("POST", "/experiments"):
                experiment_id = state.new_id("experiment")
                state.experiments[experiment_id] = json.loads(body)["display_name"]
                return {"experiment_id": experiment_id, "display_name": state.experiments[experiment_id]}, 200
            if route == ("POST", "/runs"):
                run_id = state.new_id("run")
                state.runs[run_id] = json.loads(body)
                return {"run_id": run_id, "display_name": state.runs[run_id]["display_name"]}, 200
            return {"error": f"not faked: {method} {path}", "code": 12}, 501

        def do_GET(self):
            self._handle("GET")

        def do_POST(self):
            self._handle("POST")

    return Handler


class FakeKfpServer:
    """with FakeKfpServer() as server: server.url is the host to give the Client, server.state what it got."""

    def __init__(self):
        self.state = FakeKfp()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self.state))
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> "FakeKfpServer":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
