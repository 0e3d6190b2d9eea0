"""Issue 15: files, downloads and requests built to hurt. Each gets its clear error; nothing takes a process
down. The server runs in its own process under an address-space limit, so an amplification shows up as a
dead server (a failed test), and after every bad request it must still answer a good one."""

import http.server
import os
import re
import resource
import select
import shutil
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import bombs
import grpc
import imagegen
import pytest
import tensorflow as tf
from conftest import run_catdog
from layouts import read_layout
from serving_fixtures import MODEL_NAME, served_copy
from tensorflow.core.framework import tensor_pb2, types_pb2
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from components import contract, limits, preprocessing, pusher
from components.errors import CatdogError
from components.ingest import executor, fetch, sources
from components.ingest.errors import DatasetError
from pipeline.settings import RunSettings
from serving.server.model_registry import ModelRegistry, VersionState, parse_version
from serving.status import ServingError

# The server's address space: a loaded model and 16 worker threads fit with room to spare; the 1.2 GB
# decode of a 20000x20000 image or 2000 images from one request do not.
SERVER_ADDRESS_SPACE_BYTES = 8 * 1024**3
SERVE_START_TIMEOUT_SECONDS = 180
GOOD_IMAGE = imagegen.image_bytes(1, (120, 90), "jpg")
BOMB_MEMBER_BYTES = 100 * 1024 * 1024  # over limits.MAX_FILE_BYTES, about 100 KB compressed


@pytest.fixture(scope="module")
def png_bomb():
    return bombs.png_bomb(20000, 20000)


# --- the server -------------------------------------------------------------------------------------


def _limit_address_space():
    resource.setrlimit(resource.RLIMIT_AS, (SERVER_ADDRESS_SPACE_BYTES, SERVER_ADDRESS_SPACE_BYTES))


def start_serve(base_path, *args):
    """`catdog serve` in a process of its own under the address-space limit; returns (process, gRPC HOST:PORT,
    REST URL)."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cli.main",
            "serve",
            "--model-base-path",
            str(base_path),
            "--port",
            "0",
            "--rest-port",
            "0",
            "--model-name",
            MODEL_NAME,
            *map(str, args),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
        preexec_fn=_limit_address_space,
    )
    ready, _, _ = select.select([process.stdout], [], [], SERVE_START_TIMEOUT_SECONDS)
    line = process.stdout.readline() if ready else ""
    if not line:
        process.kill()
        pytest.fail("catdog serve did not start")
    return process, re.search(r"on (\S+:\d+) ", line).group(1), re.search(r"(https?://\S+:\d+) \(REST", line).group(1)


def peak_rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"VmHWM:\s+(\d+) kB", f.read()).group(1)) / 1024


@pytest.fixture(scope="module")
def server(pipeline_run, tmp_path_factory):
    base_path = served_copy(pipeline_run.latest_model, tmp_path_factory.mktemp("hostile_serve"))
    process, target, _ = start_serve(base_path)
    channel = grpc.insecure_channel(target, options=[("grpc.max_send_message_length", 64 * 1024 * 1024)])
    try:
        yield process, prediction_service_pb2_grpc.PredictionServiceStub(channel), target
    finally:
        print(f"\ncatdog serve peak RSS after the hostile requests: {peak_rss_mb(process.pid):.0f} MB")
        channel.close()
        process.terminate()
        process.wait(timeout=30)


def request(inputs, signature=contract.IMAGE_BYTES_SIGNATURE) -> predict_pb2.PredictRequest:
    r = predict_pb2.PredictRequest()
    r.model_spec.name = MODEL_NAME
    r.model_spec.signature_name = signature
    for key, proto in inputs.items():
        r.inputs[key].CopyFrom(proto)
    return r


def images_request(images, **kwargs):
    return request({contract.IMAGE_BYTES_INPUT: tf.make_tensor_proto(images, dtype=tf.string)}, **kwargs)


def assert_refused_then_serves(server, bad_request, *expected, code=grpc.StatusCode.INVALID_ARGUMENT):
    process, stub, _ = server
    with pytest.raises(grpc.RpcError) as raised:
        stub.Predict(bad_request, timeout=120)
    assert process.poll() is None, "the server died"
    assert raised.value.code() == code, raised.value.details()
    for text in expected:
        assert text in raised.value.details()
    good = stub.Predict(images_request([GOOD_IMAGE]), timeout=60)
    assert tf.make_ndarray(good.outputs[contract.CLASS_NAME_OUTPUT]).shape == (1,)


@pytest.mark.parametrize("shape", [[2000], [2, 1000]])
def test_a_declared_shape_of_more_images_than_allowed_is_refused_before_it_is_filled(server, shape):
    """The 1.5 KB request that made 2000 images out of one: Tensor::FromProto fills a short value list (as TF
    Serving does, a shape of a few images is filled), but not beyond the images one request may carry."""
    proto = tf.make_tensor_proto([GOOD_IMAGE], dtype=tf.string, shape=shape)
    assert_refused_then_serves(
        server,
        request({contract.IMAGE_BYTES_INPUT: proto}),
        f"declares shape {shape}: 2000 images, more than the {limits.MAX_IMAGES_PER_REQUEST} allowed",
    )


def test_more_images_than_the_request_limit_are_refused(server):
    too_many = [GOOD_IMAGE] * (limits.MAX_IMAGES_PER_REQUEST + 1)
    assert_refused_then_serves(
        server,
        images_request(too_many),
        f"declares shape [{len(too_many)}]: {len(too_many)} images, "
        f"more than the {limits.MAX_IMAGES_PER_REQUEST} allowed",
    )


def test_a_huge_numeric_tensor_is_refused_before_it_is_built(server):
    """DT_FLOAT declared [4e9] with one value: 16 GB if expanded; refused on its dtype and its count."""
    proto = tensor_pb2.TensorProto(dtype=types_pb2.DT_FLOAT, float_val=[1.0])
    proto.tensor_shape.dim.add(size=4_000_000_000)
    assert_refused_then_serves(server, request({contract.IMAGE_BYTES_INPUT: proto}), "must be string, got float32")


@pytest.mark.parametrize("dtype", [types_pb2.DT_RESOURCE, types_pb2.DT_VARIANT, 999])
def test_tensors_no_request_can_carry_are_invalid_argument(server, dtype):
    proto = tensor_pb2.TensorProto(dtype=dtype)
    proto.tensor_shape.dim.add(size=1)
    assert_refused_then_serves(server, request({contract.IMAGE_BYTES_INPUT: proto}), "must be string, got")


def test_string_values_in_tensor_content_are_refused(server):
    proto = tensor_pb2.TensorProto(dtype=types_pb2.DT_STRING, tensor_content=b"\0" * 64)
    proto.tensor_shape.dim.add(size=1)
    assert_refused_then_serves(server, request({contract.IMAGE_BYTES_INPUT: proto}), "tensor parsing error")


def test_raw_image_bytes_sent_as_tf_examples_are_invalid_argument(server):
    bad = request(
        {contract.TF_EXAMPLE_INPUT: tf.make_tensor_proto([GOOD_IMAGE], dtype=tf.string)},
        signature=contract.TF_EXAMPLE_SIGNATURE,
    )
    assert_refused_then_serves(server, bad)


def test_a_png_bomb_is_refused_from_its_header(server, png_bomb):
    assert len(png_bomb) < 1024 * 1024
    assert_refused_then_serves(
        server,
        images_request([GOOD_IMAGE, png_bomb]),
        "image is 20000x20000 pixels, more than the 50000000 allowed; not decoded",
    )


@pytest.mark.parametrize("make", [bombs.jpeg_claiming, bombs.gif_claiming, bombs.bmp_claiming])
def test_jpeg_gif_and_bmp_headers_over_the_pixel_limit_are_refused(server, make):
    assert_refused_then_serves(server, images_request([make(60000, 60000)]), "image is 60000x60000 pixels")


def test_a_gif_whose_frames_add_up_over_the_pixel_limit_is_refused(server):
    assert_refused_then_serves(
        server,
        images_request([bombs.gif_frames_bomb(7000, 50)]),
        "GIF of 7000x7000 pixels whose frames (at least 2) expand to 98000000 pixels",
    )


def test_a_gif_frame_larger_than_its_screen_is_counted(server):
    assert_refused_then_serves(
        server,
        images_request([bombs.gif_frame_claiming(60000, 60000)]),
        "GIF of 64x48 pixels whose frames (at least 1) expand to 3600000000 pixels",
    )


def test_the_request_limit_is_configurable(pipeline_run, tmp_path):
    process, target, _ = start_serve(served_copy(pipeline_run.latest_model, tmp_path), "--max-images-per-request", 2)
    try:
        with grpc.insecure_channel(target) as channel:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            assert_refused_then_serves(
                (process, stub, target),
                images_request([GOOD_IMAGE] * 3),
                "declares shape [3]: 3 images, more than the 2 allowed",
            )
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_predict_prints_what_it_classified_and_lists_the_failures(server, tmp_path, png_bomb):
    _, _, target = server
    good, bomb, missing = tmp_path / "good.jpg", tmp_path / "bomb.png", tmp_path / "missing.jpg"
    good.write_bytes(GOOD_IMAGE)
    bomb.write_bytes(png_bomb)
    result = run_catdog("predict", "--server", target, good, bomb, missing)
    assert result.returncode == 1
    assert result.stdout.splitlines()[1].startswith(f"{good}\t")  # under the header
    assert f"catdog: error: {bomb}: INVALID_ARGUMENT" in result.stderr and "20000x20000" in result.stderr
    assert f"catdog: error: {missing}: cannot read image file" in result.stderr
    assert "2 of 3 files not classified" in result.stderr


# --- TLS --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificates(tmp_path_factory):
    """A CA, a server certificate for 127.0.0.1 and a client certificate, signed by the CA (openssl)."""
    root = tmp_path_factory.mktemp("tls")

    def openssl(*args):
        subprocess.run(["openssl", *args], cwd=root, check=True, capture_output=True)

    openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=catdog test CA",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
    )
    for name, extension in (("server", "subjectAltName=IP:127.0.0.1"), ("client", "extendedKeyUsage=clientAuth")):
        openssl(
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            f"/CN={name}",
            "-keyout",
            f"{name}.key",
            "-out",
            f"{name}.csr",
        )
        (root / f"{name}.ext").write_text(extension + "\n")
        openssl(
            "x509",
            "-req",
            "-in",
            f"{name}.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "1",
            "-extfile",
            f"{name}.ext",
            "-out",
            f"{name}.pem",
        )
    return root


def test_tls_with_client_certificates(pipeline_run, tmp_path, certificates):
    c = certificates
    image = tmp_path / "good.jpg"
    image.write_bytes(GOOD_IMAGE)
    process, target, rest_url = start_serve(
        served_copy(pipeline_run.latest_model, tmp_path / "models"),
        "--ssl-cert",
        c / "server.pem",
        "--ssl-key",
        c / "server.key",
        "--ssl-client-ca",
        c / "ca.pem",
    )
    try:
        ok = run_catdog(
            "predict",
            "--server",
            target,
            "--ssl-ca",
            c / "ca.pem",
            "--ssl-cert",
            c / "client.pem",
            "--ssl-key",
            c / "client.key",
            image,
        )
        assert ok.returncode == 0, ok.stderr[-2000:]
        assert ok.stdout.splitlines()[1].startswith(f"{image}\t")  # under the table's header
        for refused in (("--timeout", 5), ("--ssl-ca", c / "ca.pem", "--timeout", 5)):  # plain text; no client cert
            result = run_catdog("predict", "--server", target, *refused, image)
            assert result.returncode == 2 and "UNAVAILABLE" in result.stderr
        # REST speaks HTTPS with the same files and asks for the same client certificates.
        assert rest_url.startswith("https://")
        ok = run_catdog(
            "predict",
            "--rest",
            rest_url,
            "--ssl-ca",
            c / "ca.pem",
            "--ssl-cert",
            c / "client.pem",
            "--ssl-key",
            c / "client.key",
            image,
        )
        assert ok.returncode == 0, ok.stderr[-2000:]
        assert ok.stdout.splitlines()[1].startswith(f"{image}\t")  # under the table's header
        refused = run_catdog("predict", "--rest", rest_url, "--ssl-ca", c / "ca.pem", "--timeout", 5, image)
        assert refused.returncode == 2 and "catdog: error:" in refused.stderr
        assert process.poll() is None
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_tls_files_are_checked(tmp_path):
    not_pem = tmp_path / "cert.txt"
    not_pem.write_text("hello")
    result = run_catdog("serve", "--model-base-path", tmp_path, "--ssl-cert", not_pem, "--ssl-key", not_pem)
    assert result.returncode == 2
    assert f"catdog: error: {not_pem}: the private key is not a PEM file" in result.stderr
    result = run_catdog("serve", "--model-base-path", tmp_path, "--ssl-cert", not_pem)
    assert result.returncode == 2 and "needs both --ssl-cert and --ssl-key" in result.stderr


# --- command-line values ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args, message",
    [
        (("serve", "--port", "70000"), "port number from 1 to 65535"),
        (("serve", "--port", "-1"), "port number from 1 to 65535"),
        (("serve", "--poll-seconds", "0"), "must be between 1 and 86400"),
        (("serve", "--poll-seconds", "nan"), "must be a finite number"),
        (("serve", "--model-name", "/abs/path"), "is not a plain name"),
        (("serve", "--model-name", "../.."), "is not a plain name"),
        (("serve", "--max-images-per-request", "0"), "must be between 1 and 4096"),
        (("predict", "--timeout", "0", "x.jpg"), "must be above 0 and at most 86400"),
    ],
)
def test_serve_and_predict_values_are_checked(args, message):
    result = run_catdog(*args, timeout=60)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr


# --- ingestion --------------------------------------------------------------------------------------


def _run_executor(tmp_path, data_uri):
    from tfx.types import standard_artifacts

    examples = standard_artifacts.Examples()
    examples.uri = str(tmp_path / "ImageExampleGen" / "examples" / "7")
    properties = {executor.DATA_URI_KEY: data_uri, executor.EVAL_PERCENT_KEY: RunSettings.eval_percent}
    executor.Executor().Do({}, {executor.EXAMPLES_KEY: [examples]}, properties)
    return examples


def _skipped(examples):
    import json

    report = json.loads(Path(os.path.join(examples.uri, "ingest_report.json")).read_text())
    return {s["file"]: s["reason"] for s in report["skipped"]}


def test_bombs_in_the_zip_are_skipped_with_their_reasons(tmp_path, png_bomb):
    files = imagegen.class_folder_files(4)
    files["cats/huge.png"] = png_bomb
    files["cats/frames.gif"] = bombs.gif_frames_bomb(7000, 50)
    path = bombs.zip_with_zeros(tmp_path / "pets.zip", files, "dogs/bomb.jpg", BOMB_MEMBER_BYTES)
    liar = bombs.zip_with_zeros(tmp_path / "liar.zip", files, "dogs/liar.jpg", BOMB_MEMBER_BYTES)
    bombs.lie_about_size(liar, "dogs/liar.jpg", 1000)

    skipped = _skipped(_run_executor(tmp_path / "a", path))
    assert "declares 104,857,600 bytes uncompressed, more than the 67,108,864 allowed" in skipped["dogs/bomb.jpg"]
    assert "image is 20000x20000 pixels" in skipped["cats/huge.png"]
    assert "whose frames (at least 2) expand to 98000000 pixels" in skipped["cats/frames.gif"]
    assert "unreadable in the zip" in _skipped(_run_executor(tmp_path / "b", liar))["dogs/liar.jpg"]


def test_reading_a_member_never_holds_more_than_the_limit(tmp_path):
    path = bombs.zip_with_zeros(tmp_path / "z.zip", {}, "cats/big.jpg", 3 * 1024 * 1024)
    with (
        zipfile.ZipFile(path) as zf,
        pytest.raises(sources.UnreadableMember, match="holds more than the 1,048,576 bytes allowed"),
    ):
        sources.read_member(zf, "cats/big.jpg", max_bytes=1024 * 1024)


def test_duplicate_member_names_are_reported(tmp_path):
    files = imagegen.class_folder_files(4)
    path = imagegen.write_zip(tmp_path / "dup.zip", files)
    with zipfile.ZipFile(path, "a") as zf, pytest.warns(UserWarning, match="Duplicate name"):
        zf.writestr("cats/cats.0.jpg", imagegen.image_bytes(0, seed=99))
    data = read_layout(path)
    assert ("cats/cats.0.jpg", "duplicate name in the zip: a later entry with this name is used") in data.skipped


def test_a_failed_ingestion_names_skipped_files_and_keeps_its_report(tmp_path):
    files = imagegen.class_folder_files(3)
    for name in [n for n in files if n.startswith("cats/")]:
        files[name] = b"not an image"
    path = imagegen.write_zip(tmp_path / "broken.zip", files)
    with pytest.raises(DatasetError) as raised:
        _run_executor(tmp_path, path)
    message = str(raised.value)
    assert "has no decodable image of class 'cats'" in message
    assert "cats/cats.0.jpg: not a decodable JPEG" in message
    kept = tmp_path / "ImageExampleGen" / executor.FAILED_REPORTS_DIR / "7.json"
    assert f"every skipped file: {kept}" in message
    # TFX deletes the failed execution's folder; the kept report is elsewhere.
    shutil.rmtree(tmp_path / "ImageExampleGen" / "examples")
    assert '"cats/cats.2.jpg"' in kept.read_text()


def test_inspect_data_skips_a_bomb_member(tmp_path, png_bomb):
    files = imagegen.class_folder_files(3)
    files["cats/huge.png"] = png_bomb
    path = bombs.zip_with_zeros(tmp_path / "pets.zip", files, "cats/a-bomb.jpg", BOMB_MEMBER_BYTES)
    result = run_catdog("inspect-data", "--data", path, "--out", tmp_path / "out", timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Skipped: cats/a-bomb.jpg: declares 104,857,600 bytes" in result.stdout
    assert "Not decodable: cats/huge.png: cats/huge.png: image over the 50000000 pixels allowed" in result.stdout


def test_the_transform_graph_refuses_an_image_over_the_pixel_limit_before_decoding(png_bomb):
    decode = tf.function(lambda images: preprocessing.decode_and_resize(images, 32))
    with pytest.raises(tf.errors.InvalidArgumentError, match="image is 20000x20000 pixels"):
        decode(tf.constant([png_bomb]))
    assert decode(tf.constant([bombs.png_bomb(100, 80)])).shape == (1, 32, 32, 3)


def test_insight_refuses_an_image_over_the_pixel_limit(png_bomb):
    from insight.errors import InsightError
    from insight.images import decode_rgb

    with pytest.raises(InsightError, match="bomb.png: image over the 50000000 pixels allowed; not decoded"):
        decode_rgb(png_bomb, "bomb.png")
    # Between the limit and PIL's own refusal at twice it, the size is checked here.
    with pytest.raises(InsightError, match="big.png: image is 8000x7000 pixels, more than the 50000000 allowed"):
        decode_rgb(bombs.png_bomb(8000, 7000), "big.png")


# --- downloads --------------------------------------------------------------------------------------


class _HostileHandler(http.server.BaseHTTPRequestHandler):
    """/html: a web page with 200; /short: Content-Length larger than the body; /slow: a byte now and then;
    anything else: the file from the served folder."""

    def log_message(self, *args):
        pass

    def do_GET(self):
        self.server.gets += 1
        if self.path == "/html/pets.zip":
            body = b"<!DOCTYPE html><html><body>Sign in</body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        elif self.path == "/short/pets.zip":
            self.send_response(200)
            self.send_header("Content-Length", str(len(self.server.payload) * 2))
            self.end_headers()
            self.wfile.write(self.server.payload)
        elif self.path == "/slow/pets.zip":
            self.send_response(200)
            self.send_header("Content-Length", str(len(self.server.payload)))
            self.end_headers()
            for i in range(len(self.server.payload)):
                self.wfile.write(self.server.payload[i : i + 1])
                self.wfile.flush()
                time.sleep(0.2)
        else:
            self.send_response(200)
            self.send_header("Content-Length", str(len(self.server.payload)))
            self.end_headers()
            self.wfile.write(self.server.payload)


@pytest.fixture
def hostile_http(tmp_path):
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _HostileHandler)
    httpd.daemon_threads = True
    httpd.gets = 0
    httpd.payload = Path(imagegen.write_zip(tmp_path / "pets.zip", imagegen.class_folder_files(1))).read_bytes()
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield httpd, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def _cache_files(cache):
    return sorted(p.name for p in cache.rglob("*") if p.is_file())


@pytest.mark.parametrize(
    "path, message",
    [
        ("/html/pets.zip", "download refused, not a zip file (it starts with b'<!DOCTYPE html"),
        ("/short/pets.zip", "download cut short"),
    ],
)
def test_a_bad_download_is_never_cached(tmp_path, hostile_http, path, message):
    _, url = hostile_http
    cache = tmp_path / "cache"
    for _ in range(2):  # and the second run says the same, not "not a zip file" about a cached page
        with pytest.raises(DatasetError, match=re.escape(message)):
            fetch.fetch(url + path, cache_dir=str(cache))
    assert _cache_files(cache) == []


def test_a_stalled_download_gives_up_at_the_deadline(tmp_path, hostile_http):
    _, url = hostile_http
    cache = tmp_path / "cache"
    started = time.monotonic()
    with pytest.raises(DatasetError, match=r"download not finished after 1 s"):
        fetch.fetch(url + "/slow/pets.zip", cache_dir=str(cache), timeout_seconds=1)
    assert time.monotonic() - started < 30
    assert _cache_files(cache) == []


def test_a_bad_cache_entry_is_fetched_again_and_named(tmp_path, hostile_http, capsys):
    httpd, url = hostile_http
    cache = tmp_path / "cache"
    good = fetch.fetch(url + "/pets.zip", cache_dir=str(cache))
    Path(good).write_bytes(b"<html>a page cached by an older catdog</html>")
    dead_pid = 2**22 + 1  # above Linux's pid_max default: no such process
    abandoned = os.path.join(os.path.dirname(good), f".download-{dead_pid}-x")
    Path(abandoned).write_bytes(b"half a download")
    assert fetch.fetch(url + "/pets.zip", cache_dir=str(cache)) == good
    assert zipfile.is_zipfile(good) and httpd.gets == 2
    assert f"cached download {good} (from {url}/pets.zip) fails its check, not a zip file" in capsys.readouterr().err
    assert not os.path.exists(abandoned)


# --- the model watcher ------------------------------------------------------------------------------


class FlakyServable:
    """Loads when the version folder has variables/ (a copy in two steps); a bare saved_model.pb fails."""

    def __init__(self, path):
        if not os.path.isdir(os.path.join(path, "variables")):
            raise ServingError(grpc.StatusCode.DATA_LOSS, f"{path}: variables/ missing")
        self.path = path


def _add_version(base, name, variables=True):
    os.makedirs(os.path.join(base, name))
    Path(os.path.join(base, name, "saved_model.pb")).write_bytes(b"model")
    if variables:
        os.makedirs(os.path.join(base, name, "variables"))


def _available(registry):
    return sorted(s.version for s in registry.statuses(MODEL_NAME) if s.state == VersionState.AVAILABLE)


@pytest.mark.parametrize("name", ["²", "٣", "9223372036854775808", "99999999999999999999", "+5", " 5", "5.0"])
def test_version_folders_are_parsed_strictly(tmp_path, name, caplog):
    assert parse_version(name) is None
    _add_version(tmp_path, "1")
    _add_version(tmp_path, name)
    registry = ModelRegistry(MODEL_NAME, str(tmp_path), load=FlakyServable)
    registry.poll()
    registry.poll()
    assert _available(registry) == [1]
    assert [s.version for s in registry.statuses(MODEL_NAME)] == [1]
    assert sum(repr(name) in r.message for r in caplog.records) == 1  # logged once


def test_a_version_whose_variables_arrive_later_is_loaded(tmp_path):
    _add_version(tmp_path, "1")
    registry = ModelRegistry(MODEL_NAME, str(tmp_path), load=FlakyServable, retry_backoff=(3600, 3600))
    registry.poll()
    _add_version(tmp_path, "2", variables=False)  # saved_model.pb first ...
    registry.poll()
    assert _available(registry) == [1]
    assert registry.statuses(MODEL_NAME, 2)[0].error.code == grpc.StatusCode.DATA_LOSS
    registry.poll()  # an unchanged folder waits for its backoff
    assert registry.statuses(MODEL_NAME, 2)[0].state == VersionState.END
    os.makedirs(tmp_path / "2" / "variables")  # ... then variables/: the folder changed, so it is tried again
    registry.poll()
    assert _available(registry) == [2]


def test_a_failed_load_is_retried_after_its_backoff(tmp_path):
    attempts = []

    def load(path):
        attempts.append(path)
        if len(attempts) < 3:
            raise ServingError(grpc.StatusCode.UNAVAILABLE, "the disk hiccupped")
        return object()

    _add_version(tmp_path, "1")
    registry = ModelRegistry(MODEL_NAME, str(tmp_path), load=load, retry_backoff=(0.05, 0.1))
    for _ in range(20):
        registry.poll()
        if _available(registry):
            break
        time.sleep(0.06)
    assert _available(registry) == [1] and len(attempts) == 3


def test_the_watcher_survives_an_exception(tmp_path, monkeypatch):
    from serving.server import model_registry

    _add_version(tmp_path, "1")
    registry = ModelRegistry(MODEL_NAME, str(tmp_path), load=FlakyServable)
    real = model_registry.ready_versions
    calls = []

    def broken_once(*args):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("something nobody expected")
        return real(*args)

    monkeypatch.setattr(model_registry, "ready_versions", broken_once)
    registry.start(poll_seconds=0.05)
    try:
        _add_version(tmp_path, "2")
        deadline = time.monotonic() + 10
        while _available(registry) != [2] and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _available(registry) == [2] and len(calls) > 2
    finally:
        registry.stop()


# --- the Pusher ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("base", ["/out/serving/../..", "/out/serving/.staging", "/out/serving/a b"])
def test_the_pusher_refuses_a_destination_that_is_not_a_plain_name(base):
    with pytest.raises(CatdogError):
        pusher.check_serving_model_dir(base)
    pusher.check_serving_model_dir("/out/serving/catdog")
    pusher.check_serving_model_dir("gs://bucket/serving/catdog")


def test_the_pipeline_refuses_a_model_name_that_is_not_plain(tmp_path):
    from pipeline.local_runner import LocalRunSettings, run

    with pytest.raises(CatdogError, match="'/abs/path' is not a plain name"):
        run(LocalRunSettings(data_uri=str(tmp_path / "x.zip"), output_dir=str(tmp_path), model_name="/abs/path"))


def test_a_push_removes_staging_folders_left_by_a_dead_push(tmp_path):
    stale = tmp_path / ".staging-1700000000-4242"
    fresh = tmp_path / ".staging-1800000000-4343"
    for folder in (stale, fresh):
        (folder / "variables").mkdir(parents=True)
        (folder / "saved_model.pb").write_bytes(b"half")
    old = time.time() - pusher.STALE_STAGING_SECONDS - 60
    for path in (stale, stale / "variables", stale / "saved_model.pb"):
        os.utime(path, (old, old))
    assert pusher.remove_stale_staging(str(tmp_path), time.time()) == [str(stale)]
    assert not stale.exists() and fresh.exists()  # a push still copying keeps its folder
