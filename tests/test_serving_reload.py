"""Versions pushed while clients keep asking: the new one takes over without a failed request, and a
broken one leaves the previous serving and shows up in GetModelStatus."""

import threading
import time

import grpc
import imagegen
import pytest
from serving_fixtures import AVAILABLE, MODEL_NAME, local_server, push, push_broken, served_copy
from tensorflow_serving.apis import get_model_status_pb2, model_service_pb2_grpc

from serving.client.grpc_client import PredictClient
from serving.status import ServingError

CLIENT_THREADS = 4
MAX_REQUESTS_PER_THREAD = 2000  # a bound in case the waits below are slow; they end the loops first
SWITCH_TIMEOUT_SECONDS = 90
END = get_model_status_pb2.ModelVersionStatus.END


class Load:
    """Client threads asking in a loop; each answer is kept as (started, finished, version)."""

    def __init__(self, target: str):
        self.answers, self.failures = [], []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._ask, args=(target, i)) for i in range(CLIENT_THREADS)]

    def _ask(self, target: str, seed: int) -> None:
        image = imagegen.image_bytes(seed % 2, (150, 150), "jpg", seed=seed)
        with PredictClient(target, MODEL_NAME) as client:
            for _ in range(MAX_REQUESTS_PER_THREAD):
                if self._stop.is_set():
                    return
                started = time.monotonic()
                try:
                    version = client.predict_response([image]).model_spec.version.value
                except ServingError as e:
                    with self._lock:
                        self.failures.append(e)
                    continue
                with self._lock:
                    self.answers.append((started, time.monotonic(), version))

    def __enter__(self) -> "Load":
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for t in self._threads:
            t.join()

    def count(self) -> int:
        with self._lock:
            return len(self.answers)

    def wait_for_answers(self, n: int, version: int = None) -> None:
        """Until n more answers (from version, if given) have come in, or a timeout."""
        deadline = time.monotonic() + SWITCH_TIMEOUT_SECONDS
        with self._lock:
            start = len(self.answers)
        while True:
            with self._lock:
                new = [v for _, _, v in self.answers[start:] if version is None or v == version]
            if len(new) >= n:
                return
            assert time.monotonic() < deadline, f"fewer than {n} answers from version {version} in time"
            time.sleep(0.05)


def model_status(target: str):
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = MODEL_NAME
    with grpc.insecure_channel(target) as channel:
        response = model_service_pb2_grpc.ModelServiceStub(channel).GetModelStatus(request, timeout=30)
    return {s.version: s for s in response.model_version_status}


def wait_for_status(target: str, version: int, state) -> get_model_status_pb2.ModelVersionStatus:
    deadline = time.monotonic() + SWITCH_TIMEOUT_SECONDS
    while True:
        status = model_status(target).get(version)
        if status is not None and status.state == state:
            return status
        assert time.monotonic() < deadline, f"version {version} never reached state {state}"
        time.sleep(0.1)


@pytest.fixture
def base_path(pipeline_run, tmp_path):
    return served_copy(pipeline_run.latest_model, tmp_path, version=1)


def test_pushed_versions_roll_over_without_failed_requests(pipeline_run, base_path):
    with local_server(base_path, poll_seconds=0.2) as (target, _), Load(target) as load:
        load.wait_for_answers(10, version=1)

        push(pipeline_run.latest_model, base_path, 2)
        load.wait_for_answers(10, version=2)
        switched = min(end for _, end, v in load.answers if v == 2)
        # Once version 2 has answered, it is the latest: later requests get it and never version 1.
        assert {v for start, _, v in load.answers if start > switched} == {2}
        assert wait_for_status(target, 1, END).status.error_code == 0

        push_broken(base_path, 3)
        failed = wait_for_status(target, 3, END)
        pushed_broken = load.count()
        load.wait_for_answers(10)
        states = {v: s.state for v, s in model_status(target).items()}

    assert load.failures == []
    assert {v for _, _, v in load.answers[pushed_broken:]} == {2}
    assert states == {1: END, 2: AVAILABLE, 3: END}
    assert failed.status.error_code == grpc.StatusCode.DATA_LOSS.value[0]
    assert "saved_model.pb" in failed.status.error_message
