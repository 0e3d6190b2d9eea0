"""Helpers for the serving tests: servers on 127.0.0.1 (ours in this process, gRPC and REST, TF Serving's binary if
installed), versions pushed the way the Pusher pushes them, and reference answers from the SavedModel."""

import contextlib
import dataclasses
import os
import shutil
import subprocess
import time
from pathlib import Path

import grpc
import imagegen
import pytest
import tensorflow as tf
from tensorflow_serving.apis import get_model_status_pb2, model_service_pb2_grpc

from components import contract
from components.limits import MAX_MESSAGE_BYTES
from serving.server.batching import BatchingOptions, BatchScheduler
from serving.server.grpc_server import start_server
from serving.server.metrics import ServingMetrics
from serving.server.model_registry import ModelRegistry
from serving.server.predict_core import Predictor
from serving.server.rest_server import RestServer

MODEL_NAME = "catdog"
TF_SERVING_BINARY = "tensorflow_model_server"
AVAILABLE = get_model_status_pb2.ModelVersionStatus.AVAILABLE


def sample_images() -> dict[str, bytes]:
    """JPEGs and PNGs of both kinds in several sizes, smaller and larger than the model input."""
    images = {}
    for i, (size, fmt) in enumerate(
        [((150, 150), "jpg"), ((64, 48), "png"), ((320, 200), "jpg"), ((97, 131), "png"), ((500, 375), "jpg")]
    ):
        for kind in (0, 1):
            images[f"{kind}-{size[0]}x{size[1]}.{fmt}"] = imagegen.image_bytes(kind, size, fmt, seed=100 + i)
    return images


def reference_predictions(model_dir, images: list[bytes]) -> list[dict]:
    """What the SavedModel's serving_default answers when called directly, one image at a time."""
    signature = tf.saved_model.load(str(model_dir)).signatures[contract.IMAGE_BYTES_SIGNATURE]
    answers = []
    for image in images:
        outputs = signature(**{contract.IMAGE_BYTES_INPUT: tf.constant([image])})
        answers.append(
            {
                "class_name": outputs[contract.CLASS_NAME_OUTPUT].numpy()[0].decode(),
                "class_id": int(outputs[contract.CLASS_ID_OUTPUT].numpy()[0]),
                "probability": float(outputs[contract.PROBABILITY_OUTPUT].numpy()[0]),
            }
        )
    return answers


def served_copy(model_dir, root, version: int = 1) -> Path:
    """A base path of our own holding model_dir as its only version, so tests that push don't touch
    the session's serving folder."""
    base_path = Path(root) / MODEL_NAME
    base_path.mkdir(parents=True)
    push(model_dir, base_path, version)
    return base_path


def push(model_dir, base_path, version: int) -> Path:
    """Copies a model in beside the versions, then renames it into place, as the Pusher does."""
    staging = Path(base_path) / f".staging-{version}-{os.getpid()}"
    shutil.copytree(model_dir, staging)
    target = Path(base_path) / str(version)
    os.rename(staging, target)
    return target


def push_broken(base_path, version: int) -> Path:
    """A version folder whose saved_model.pb is garbage."""
    staging = Path(base_path) / f".staging-{version}-{os.getpid()}"
    staging.mkdir()
    (staging / "saved_model.pb").write_bytes(b"\x08\x01 this is not a SavedModel \xff\xfe" * 50)
    target = Path(base_path) / str(version)
    os.rename(staging, target)
    return target


@dataclasses.dataclass
class LocalServers:
    target: str  # gRPC HOST:PORT
    rest_url: str  # http://HOST:PORT
    registry: ModelRegistry
    metrics: ServingMetrics


@contextlib.contextmanager
def local_servers(
    base_path,
    poll_seconds: float = 0.2,
    max_message_bytes: int = MAX_MESSAGE_BYTES,
    batching: BatchingOptions | None = None,
    **registry_options,
):
    """`catdog serve` in this process, gRPC and REST on free 127.0.0.1 ports sharing one Predictor."""
    registry = ModelRegistry(MODEL_NAME, str(base_path), **registry_options)
    registry.start(poll_seconds)
    metrics = ServingMetrics(registry)
    scheduler = BatchScheduler(batching, on_batch=metrics.record_batch) if batching else None
    predictor = Predictor(registry, scheduler, metrics)
    server, port = start_server(registry, "127.0.0.1", 0, max_message_bytes, predictor)
    rest = RestServer(predictor, "127.0.0.1", 0, max_message_bytes)
    rest_port = rest.start()
    try:
        yield LocalServers(f"127.0.0.1:{port}", f"http://127.0.0.1:{rest_port}", registry, metrics)
    finally:
        server.stop(grace=None)
        rest.stop()
        registry.stop()
        if scheduler is not None:
            scheduler.stop()


@contextlib.contextmanager
def local_server(base_path, **options):
    """The gRPC side of local_servers: yields (target, registry)."""
    with local_servers(base_path, **options) as servers:
        yield servers.target, servers.registry


def wait_until_available(target: str, timeout_seconds: float = 120.0) -> None:
    with grpc.insecure_channel(target) as channel:
        stub = model_service_pb2_grpc.ModelServiceStub(channel)
        deadline = time.monotonic() + timeout_seconds
        while True:
            request = get_model_status_pb2.GetModelStatusRequest()
            request.model_spec.name = MODEL_NAME
            try:
                response = stub.GetModelStatus(request, timeout=5)
                if any(s.state == AVAILABLE for s in response.model_version_status):
                    return
            except grpc.RpcError:
                pass  # still starting or still loading
            if time.monotonic() > deadline:
                raise TimeoutError(f"no version of {MODEL_NAME} became available at {target}")
            time.sleep(0.5)


@contextlib.contextmanager
def tf_serving(base_path, socket_dir):
    """The real tensorflow_model_server, if installed, reached over a unix socket (it always also
    listens on 0.0.0.0:--port; port 0 lets the system pick)."""
    binary = shutil.which(TF_SERVING_BINARY)
    if binary is None:
        pytest.skip(f"{TF_SERVING_BINARY} is not on PATH")
    socket_path = Path(socket_dir) / "tf_serving.sock"
    process = subprocess.Popen(
        [
            binary,
            "--port=0",
            f"--grpc_socket_path={socket_path}",
            f"--model_name={MODEL_NAME}",
            f"--model_base_path={Path(base_path).resolve()}",
            "--file_system_poll_wait_seconds=1",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    target = f"unix:{socket_path}"
    try:
        wait_until_available(target)
        yield target
    finally:
        process.terminate()
        process.wait(timeout=30)
