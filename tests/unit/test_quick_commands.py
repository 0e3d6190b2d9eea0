"""The commands that should answer at once import neither TensorFlow, TFX nor Beam: `catdog --help`, an argument
error, a missing --data path, and `catdog predict` over REST and gRPC (checked in a fresh process, by what is in
sys.modules when the command returns). The gRPC path loads TF Serving's protos without TensorFlow's runtime
(components/protos.py); they must build the same messages and read the same values as TensorFlow does."""

import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HEAVY = ("tensorflow", "tfx", "apache_beam", "tensorflow_transform")

_RUN_AND_LIST_IMPORTS = f"""
import json, sys
from cli import main
try:
    code = main.main(sys.argv[1:])
except SystemExit as e:
    code = e.code
print(json.dumps({{"code": code, "heavy": [m for m in {HEAVY!r} if m in sys.modules]}}))
"""


def _catdog(*args):
    proc = subprocess.run(
        [sys.executable, "-c", _RUN_AND_LIST_IMPORTS, *map(str, args)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return json.loads(proc.stdout.splitlines()[-1]), proc


class _FakeRestPredict(BaseHTTPRequestHandler):
    """Answers every :predict as TF Serving would for one image of the second class."""

    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        body = json.dumps({"predictions": [{"class_id": 1, "class_name": "dogs", "probability": 0.75}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def rest_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeRestPredict)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def image(tmp_path):
    path = tmp_path / "dog.jpg"
    path.write_bytes(b"\xff\xd8 not decoded by the client")
    return path


def test_predict_over_rest_imports_no_tensorflow_and_prints_the_class_and_its_probability(rest_server, image):
    found, proc = _catdog("predict", "--rest", rest_server, image)
    assert found == {"code": 0, "heavy": []}, proc.stderr
    assert proc.stdout.splitlines()[:2] == ["file\tclass\tprobability", f"{image}\tdogs\t0.750000"]


def test_predict_json_gives_both_probabilities(rest_server, image):
    found, proc = _catdog("predict", "--rest", rest_server, "--json", image)
    assert found["code"] == 0, proc.stderr
    [row] = json.loads(proc.stdout[: proc.stdout.rindex("\n{")])
    assert row == {
        "file": str(image),
        "class_name": "dogs",
        "class_id": 1,
        "probability": 0.75,
        "probabilities": [0.25, 0.75],
    }


def test_predict_over_grpc_imports_no_tensorflow_and_names_the_address_it_tried(image):
    found, proc = _catdog("predict", "--server", "127.0.0.1:1", "--timeout", "5", image)
    assert found == {"code": 2, "heavy": []}, proc.stderr
    assert "catdog: error: no server answered at 127.0.0.1:1" in proc.stderr
    assert "catdog serve" in proc.stderr and "--model DIR" in proc.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["run", "--help"],
        ["run", "--eval-percent", "100"],  # a value out of range
        ["predict"],  # a missing argument
        ["serve", "--port", "x"],
    ],
)
def test_help_and_argument_errors_import_no_tensorflow(args):
    found, proc = _catdog(*args)
    assert found["heavy"] == [], proc.stderr
    assert found["code"] in (0, 2)


def test_a_missing_data_path_is_named_without_tensorflow(tmp_path):
    missing = tmp_path / "no-such.zip"
    found, proc = _catdog("run", "--data", missing, "--output", tmp_path / "out")
    assert found == {"code": 2, "heavy": []}, proc.stderr
    assert str(missing) in proc.stderr


def test_light_protos_build_and_read_what_tensorflow_does():
    code = """
import sys
import numpy as np
from components import protos
predict_pb2, _ = protos.serving_apis()
request = predict_pb2.PredictRequest()
request.inputs["image_bytes"].CopyFrom(protos.string_tensor([b"a", b"bc"]))
assert "tensorflow" not in sys.modules
import tensorflow as tf  # after the light load: TensorFlow's own __init__ runs and finds the protos
assert request.inputs["image_bytes"] == tf.make_tensor_proto([b"a", b"bc"], dtype=tf.string)
for values in [np.array([0.25, 0.5], np.float32), np.array([[1, 0]], np.int64), np.array([b"cats", b"dogs"]),
               np.full([3], 0.5, np.float32), np.zeros([2], np.int64)]:
    proto = tf.make_tensor_proto(values)
    assert np.array_equal(protos.to_ndarray(proto), tf.make_ndarray(proto)), values
    assert protos.to_ndarray(proto).dtype == tf.make_ndarray(proto).dtype
print("ok")
"""
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.stdout.strip().endswith("ok"), proc.stderr[-3000:]


@pytest.mark.parametrize("given", ["run", "serving"])
def test_serve_on_a_run_folder_names_the_models_folder(tmp_path, given):
    versions = tmp_path / "serving" / "catdog"
    (versions / "1").mkdir(parents=True)
    found, proc = _catdog("serve", "--model-base-path", tmp_path if given == "run" else tmp_path / "serving")
    assert found == {"code": 2, "heavy": []}, proc.stderr
    assert f"--model-base-path {versions}" in proc.stderr
