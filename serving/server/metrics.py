"""Prometheus metrics under TF Serving's names, so dashboards and alerts made for TF Serving read
`catdog serve` unchanged. Served on the REST port at /monitoring/prometheus/metrics, TF Serving's path."""

import threading
from typing import Dict, Tuple

import prometheus_client
from prometheus_client.core import Metric

METRICS_PATH = "/monitoring/prometheus/metrics"
# TF Serving exports its /tensorflow/serving/... metrics with every "/" turned into ":".
REQUEST_COUNT = ":tensorflow:serving:request_count"
REQUEST_LATENCY = ":tensorflow:serving:request_latency"
PROCESSED_BATCH_SIZE = ":tensorflow:serving:batching_session:processed_batch_size"
LOAD_ATTEMPT_COUNT = ":tensorflow:cc:saved_model:load_attempt_count"
# TF Serving has no per-version state metric; this one is ours, named as ours.
VERSION_STATE = "catdog_model_version_state"
# TF Serving's latency buckets: microseconds, 10 * 1.8^i for i < 33 (10 us to about 1.5 hours).
LATENCY_BUCKETS_MICROS = tuple(10 * 1.8**i for i in range(33))
BATCH_SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
BATCH_THREAD_POOL = "catdog_batch_threads"

prometheus_client.disable_created_metrics()  # TF Serving exports no *_created series


class ServingMetrics:
    """Counts requests by model and status, times them by API and entrypoint (GRPC or REST), and reads
    the registry's version states when scraped."""

    def __init__(self, model_registry):
        self.registry = prometheus_client.CollectorRegistry()
        self._model_registry = model_registry
        self._lock = threading.Lock()
        self._request_counts: Dict[Tuple[str, str], int] = {}
        self._latency = prometheus_client.Histogram(
            REQUEST_LATENCY, "Distribution of wall time (in microseconds) for Tensorflow Serving request.",
            ["model_name", "API", "entrypoint"], buckets=LATENCY_BUCKETS_MICROS, registry=self.registry,
        )
        self._batch_size = prometheus_client.Histogram(
            PROCESSED_BATCH_SIZE, "Tracks the batch size distribution on processing.",
            ["thread_pool_name"], buckets=BATCH_SIZE_BUCKETS, registry=self.registry,
        )
        self.registry.register(self)  # collect() below adds the metrics that need exact names

    def record_request(self, model_name: str, status: str, api: str, entrypoint: str, seconds: float) -> None:
        with self._lock:
            key = (model_name, status)
            self._request_counts[key] = self._request_counts.get(key, 0) + 1
        self._latency.labels(model_name, api, entrypoint).observe(seconds * 1e6)

    def record_batch(self, size: int) -> None:
        self._batch_size.labels(BATCH_THREAD_POOL).observe(size)

    def request_count(self, model_name: str, status: str) -> int:
        with self._lock:
            return self._request_counts.get((model_name, status), 0)

    def collect(self):
        counts = Metric(REQUEST_COUNT, "The total number of requests.", "counter")
        with self._lock:
            for (model_name, status), value in sorted(self._request_counts.items()):
                counts.add_sample(REQUEST_COUNT, {"model_name": model_name, "status": status}, value)
        yield counts
        registry = self._model_registry
        try:
            statuses = registry.statuses(registry.model_name)
        except Exception:  # noqa: BLE001 - no version seen yet: nothing to report
            statuses = []
        loads = Metric(LOAD_ATTEMPT_COUNT, "The number of times a SavedModel was successfully loaded.", "counter")
        states = Metric(VERSION_STATE, "1 for each version's current state (LOADING, AVAILABLE, END).", "gauge")
        outcomes = {"success": 0, "fail": 0}
        for status in statuses:
            if status.error is not None:
                outcomes["fail"] += 1
            elif status.state.value != "LOADING":
                outcomes["success"] += 1
            labels = {"model_name": registry.model_name, "version": str(status.version), "state": status.state.value}
            states.add_sample(VERSION_STATE, labels, 1)
        for outcome, value in outcomes.items():
            loads.add_sample(LOAD_ATTEMPT_COUNT, {"model_path": registry.base_path, "status": outcome}, value)
        yield loads
        yield states

    def exposition(self) -> bytes:
        text = prometheus_client.generate_latest(self.registry).decode()
        # The text format names a counter's family NAME_total; TF Serving's counters are named without it.
        for name in (REQUEST_COUNT, LOAD_ATTEMPT_COUNT):
            for line in ("# HELP", "# TYPE"):
                text = text.replace(f"{line} {name}_total ", f"{line} {name} ")
        return text.encode()
