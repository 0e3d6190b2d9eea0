"""Batching as TF Serving does it: concurrent requests merge into one model call and each gets its
own rows back; a bad request fails alone; the limits answer with TF Serving's codes; the settings
come from TF Serving's batching_parameters.txt."""

import threading
import time
from concurrent import futures

import grpc
import numpy as np
import pytest
import requests
import tensorflow as tf
from serving_fixtures import MODEL_NAME, local_servers, reference_predictions, sample_images, served_copy

from components.errors import CatdogError
from serving.client.grpc_client import PredictClient
from serving.client.rest_client import RestPredictClient
from serving.server.batching import BatchingOptions, BatchScheduler, read_batching_parameters
from serving.status import ServingError

DEPLOY_PARAMETERS = "serving/deploy/batching_parameters.txt"


class RecordingModel:
    """Doubles each value and remembers the batch sizes it was called with; b"bad" fails a call."""

    def __init__(self, release: threading.Event = None):
        self.batch_sizes = []
        self.release = release
        self.started = threading.Event()
        self._lock = threading.Lock()

    def __call__(self, inputs):
        values = inputs["x"].numpy()
        self.started.set()
        if self.release is not None:
            self.release.wait(30)
        with self._lock:
            self.batch_sizes.append(len(values))
        if b"bad" in values.tolist():
            raise ServingError(grpc.StatusCode.INVALID_ARGUMENT, "bad input")
        return {"y": np.array([v * 2 for v in values], dtype=object)}


def request(*values):
    return {"x": tf.constant([v.encode() for v in values])}


def test_concurrent_requests_merge_and_each_gets_its_own_rows():
    model = RecordingModel()
    scheduler = BatchScheduler(BatchingOptions(max_batch_size=16, batch_timeout_micros=200_000, num_batch_threads=1))
    sent = [[f"r{i}v{j}" for j in range(i % 3 + 1)] for i in range(8)]  # 1 to 3 rows each, 15 in all
    try:
        with futures.ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda values: scheduler.run("k", model, request(*values), len(values)), sent))
    finally:
        scheduler.stop()
    for values, answer in zip(sent, answers):
        assert answer["y"].tolist() == [(v * 2).encode() for v in values]
    assert sum(model.batch_sizes) == 15
    assert len(model.batch_sizes) < len(sent)  # merged: fewer model calls than requests


def test_a_bad_request_in_a_batch_fails_alone():
    model = RecordingModel()
    scheduler = BatchScheduler(BatchingOptions(max_batch_size=8, batch_timeout_micros=200_000, num_batch_threads=1))

    def send(value):
        try:
            return scheduler.run("k", model, request(value), 1)["y"].tolist()
        except ServingError as e:
            return e.code

    try:
        with futures.ThreadPoolExecutor(4) as pool:
            answers = list(pool.map(send, ["a", "bad", "c", "d"]))
    finally:
        scheduler.stop()
    assert answers == [[b"aa"], grpc.StatusCode.INVALID_ARGUMENT, [b"cc"], [b"dd"]]


def test_a_request_larger_than_max_batch_size_is_refused_as_tf_serving_does():
    scheduler = BatchScheduler(BatchingOptions(max_batch_size=2))
    try:
        with pytest.raises(ServingError) as raised:
            scheduler.run("k", RecordingModel(), request("a", "b", "c"), 3)
    finally:
        scheduler.stop()
    assert raised.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "larger than maximum batch size 2" in raised.value.message


def test_a_full_queue_answers_unavailable():
    release = threading.Event()
    model = RecordingModel(release)
    scheduler = BatchScheduler(BatchingOptions(max_batch_size=1, max_enqueued_batches=1, num_batch_threads=1))
    try:
        with futures.ThreadPoolExecutor(2) as pool:
            running = pool.submit(scheduler.run, "k", model, request("a"), 1)
            assert model.started.wait(30)  # the only batch thread is busy with it
            queued = pool.submit(scheduler.run, "k", model, request("b"), 1)
            while not scheduler._queue:  # b waits in the queue, which is now full
                time.sleep(0.01)
            with pytest.raises(ServingError) as raised:
                scheduler.run("k", model, request("c"), 1)
            release.set()
            assert running.result(30)["y"].tolist() == [b"aa"]
            assert queued.result(30)["y"].tolist() == [b"bb"]
    finally:
        release.set()
        scheduler.stop()
    assert raised.value.code == grpc.StatusCode.UNAVAILABLE
    assert "queue" in raised.value.message


def test_deploy_batching_parameters_are_read(tmp_path):
    assert read_batching_parameters(DEPLOY_PARAMETERS) == BatchingOptions(
        max_batch_size=32, batch_timeout_micros=2000, max_enqueued_batches=64, num_batch_threads=2
    )
    bad = tmp_path / "batching_parameters.txt"
    bad.write_text("max_batch_size { value: 8 }\nmax_batch_sise { value: 8 }\n")
    with pytest.raises(CatdogError, match=f"{bad}: .*max_batch_sise"):
        read_batching_parameters(str(bad))
    bad.write_text("max_batch_size { value: 0 }\n")
    with pytest.raises(CatdogError, match=f"{bad}: batching parameter max_batch_size must be at least 1"):
        read_batching_parameters(str(bad))


def test_batched_server_answers_each_client_right(pipeline_run, tmp_path):
    base_path = served_copy(pipeline_run.latest_model, tmp_path, 1)
    images = list(sample_images().values())
    expected = reference_predictions(base_path / "1", images)
    options = BatchingOptions(max_batch_size=8, batch_timeout_micros=100_000, num_batch_threads=1)
    with local_servers(base_path, batching=options) as servers:
        with (
            PredictClient(servers.target, MODEL_NAME) as grpc_client,
            RestPredictClient(servers.rest_url, MODEL_NAME) as rest_client,
        ):
            clients = [grpc_client, rest_client]
            with futures.ThreadPoolExecutor(len(images)) as pool:
                answers = list(pool.map(lambda i: clients[i % 2].predict([images[i]])[0], range(len(images))))
        metrics = requests.get(f"{servers.rest_url}/monitoring/prometheus/metrics", timeout=30).text
    assert [a["class_name"] for a in answers] == [e["class_name"] for e in expected]
    for answer, reference in zip(answers, expected):
        assert answer["probability"] == pytest.approx(reference["probability"], abs=1e-6)
    batches = [
        line
        for line in metrics.splitlines()
        if line.startswith(":tensorflow:serving:batching_session:processed_batch_size_count")
    ]
    assert batches and 0 < float(batches[0].split()[-1]) < len(images)  # some requests shared a model call
