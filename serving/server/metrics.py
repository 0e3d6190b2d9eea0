"""Prometheus metrics under TF Serving's names, in its exposition format, so dashboards and alerts made for
TF Serving read `catdog serve` unchanged. Served on the REST port at /monitoring/prometheus/metrics.

The page is written here rather than by prometheus_client because TF Serving's format differs from that
library's in what dashboards match on: bucket bounds printed as absl::StrCat prints a double (six digits:
`le="32.4"`, not `32.400000000000006`), counters without a `_total` family, no HELP lines
(util/prometheus_exporter.cc).

One deliberate difference: a request for a model the server does not serve is counted under
UNKNOWN_MODEL_LABEL, not under the name it asked for, so the page's size is bounded by what the server
serves (TF Serving labels it with whatever name the request carried)."""

import bisect
import threading
from collections.abc import Callable, Iterable, Sequence

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, text_format

from components.errors import CatdogError

METRICS_PATH = "/monitoring/prometheus/metrics"
# TF Serving exports its /tensorflow/serving/... metrics with every "/" turned into ":".
REQUEST_COUNT = ":tensorflow:serving:request_count"
REQUEST_LATENCY = ":tensorflow:serving:request_latency"
PROCESSED_BATCH_SIZE = ":tensorflow:serving:batching_session:processed_batch_size"
LOAD_ATTEMPT_COUNT = ":tensorflow:cc:saved_model:load_attempt_count"
# TF Serving has no per-version state metric; this one is ours, named as ours.
VERSION_STATE = "catdog_model_version_state"
UNKNOWN_MODEL_LABEL = "<not served>"
# monitoring::Buckets::Exponential(10, 1.8, 33): microseconds, 10 us to about 1.5 hours, then +Inf.
LATENCY_BUCKETS_MICROS = tuple(10 * 1.8**i for i in range(33))
BATCH_SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
BATCH_THREAD_POOL = "catdog_batch_threads"

Labels = tuple[tuple[str, str], ...]


def _number(value: float) -> str:
    """absl::StrCat(double): six significant digits, as %g."""
    return f"{value:g}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')  # SanitizeLabelValue


def _labels(labels: Labels) -> str:
    return ",".join(f'{name}="{_escape(value)}"' for name, value in labels)


class _Histogram:
    def __init__(self, bounds: Sequence[float]):
        self.bounds = list(bounds)
        self.cells: dict[Labels, list[float]] = {}  # per label set: bucket counts (the last +Inf), then the sum

    def observe(self, labels: Labels, value: float) -> None:
        cell = self.cells.setdefault(labels, [0] * (len(self.bounds) + 2))
        cell[bisect.bisect_right(self.bounds, value)] += 1  # TF's Histogram::Add: upper_bound
        cell[-1] += value

    def lines(self, name: str) -> Iterable[str]:
        yield f"# TYPE {name} histogram"
        for labels, cell in sorted(self.cells.items()):
            prefix = f"{name}_bucket{{{_labels(labels)}{',' if labels else ''}"
            total = 0
            for i, count in enumerate(cell[:-1]):
                total += count
                bound = _number(self.bounds[i]) if i < len(self.bounds) else "+Inf"
                yield f'{prefix}le="{bound}"}} {total}'
            yield f"{name}_sum{{{_labels(labels)}}} {_number(cell[-1])}"
            yield f"{name}_count{{{_labels(labels)}}} {total}"


def _scalar_lines(name: str, kind: str, samples: dict[Labels, int]) -> Iterable[str]:
    yield f"# TYPE {name} {kind}"
    for labels, value in sorted(samples.items()):
        yield f"{name}{{{_labels(labels)}}} {value}"


class ServingMetrics:
    """Counts requests by model and status, times the successful ones by API and entrypoint (GRPC or REST),
    and reads the models' version states when scraped. models is a ServedModels (serving.model_config) or a
    single ModelRegistry."""

    def __init__(self, models):
        self._models = models
        self._lock = threading.Lock()
        self._request_counts: dict[Labels, int] = {}
        self._latency = _Histogram(LATENCY_BUCKETS_MICROS)
        self._batch_size = _Histogram(BATCH_SIZE_BUCKETS)

    def _registries(self) -> dict[str, object]:
        models = self._models
        return models.registries() if hasattr(models, "registries") else {models.model_name: models}

    def model_label(self, model_name: str) -> str:
        return model_name if model_name in self._registries() else UNKNOWN_MODEL_LABEL

    def record_request(self, model_name: str, status: str, api: str, entrypoint: str, seconds: float) -> None:
        """One request answered: counted by status (RecordModelRequestCount); its latency recorded only if it
        succeeded (RecordRequestLatency runs `if (status.ok())`)."""
        name = self.model_label(model_name)
        with self._lock:
            key = (("model_name", name), ("status", status))
            self._request_counts[key] = self._request_counts.get(key, 0) + 1
            if status == "OK":
                labels = (("model_name", name), ("API", api), ("entrypoint", entrypoint))
                self._latency.observe(labels, seconds * 1e6)

    def record_batch(self, size: int) -> None:
        with self._lock:
            self._batch_size.observe((("thread_pool_name", BATCH_THREAD_POOL),), size)

    def request_count(self, model_name: str, status: str) -> int:
        with self._lock:
            return self._request_counts.get((("model_name", model_name), ("status", status)), 0)

    def _version_lines(self) -> tuple[list[str], list[str]]:
        loads: dict[Labels, int] = {}
        states: dict[Labels, int] = {}
        for name, registry in sorted(self._registries().items()):
            try:
                statuses = registry.statuses(name)
            except Exception:  # noqa: BLE001 - no version seen yet: nothing to report
                statuses = []
            for status in statuses:
                if status.state.value != "LOADING":
                    # TF Serving's loader counts attempts per version folder (its model_path).
                    path = registry.version_path(status.version)
                    outcome = "fail" if status.error is not None else "success"
                    key = (("model_path", path), ("status", outcome))
                    loads[key] = loads.get(key, 0) + 1
                states[(("model_name", name), ("version", str(status.version)), ("state", status.state.value))] = 1
        return (
            list(_scalar_lines(LOAD_ATTEMPT_COUNT, "counter", loads)),
            list(_scalar_lines(VERSION_STATE, "gauge", states)),
        )

    def exposition(self) -> bytes:
        load_lines, state_lines = self._version_lines()
        with self._lock:
            families: dict[str, Callable[[], Iterable[str]]] = {
                LOAD_ATTEMPT_COUNT: lambda: load_lines,
                PROCESSED_BATCH_SIZE: lambda: self._batch_size.lines(PROCESSED_BATCH_SIZE),
                REQUEST_COUNT: lambda: _scalar_lines(REQUEST_COUNT, "counter", self._request_counts),
                REQUEST_LATENCY: lambda: self._latency.lines(REQUEST_LATENCY),
                VERSION_STATE: lambda: state_lines,
            }
            lines = [line for name in sorted(families) for line in families[name]()]
        return ("\n".join(lines) + "\n").encode()


def _monitoring_config_class():
    """MonitoringConfig (tensorflow_serving/config/monitoring_config.proto), which the pip package does not
    ship: prometheus_config { enable, path }."""
    file = descriptor_pb2.FileDescriptorProto(
        name="catdog/monitoring_config.proto", package="tensorflow.serving", syntax="proto3"
    )
    Field = descriptor_pb2.FieldDescriptorProto
    prometheus = file.message_type.add(name="PrometheusConfig")
    prometheus.field.add(name="enable", number=1, label=Field.LABEL_OPTIONAL, type=Field.TYPE_BOOL)
    prometheus.field.add(name="path", number=2, label=Field.LABEL_OPTIONAL, type=Field.TYPE_STRING)
    monitoring = file.message_type.add(name="MonitoringConfig")
    monitoring.field.add(
        name="prometheus_config",
        number=1,
        label=Field.LABEL_OPTIONAL,
        type=Field.TYPE_MESSAGE,
        type_name=".tensorflow.serving.PrometheusConfig",
    )
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    descriptor = pool.FindMessageTypeByName("tensorflow.serving.MonitoringConfig")
    return message_factory.MessageFactory(pool).GetPrototype(descriptor)


def read_monitoring_config(path: str):
    """TF Serving's --monitoring_config_file, checked against what is served: the metrics, always, at
    METRICS_PATH. A CatdogError naming the file otherwise."""
    try:
        with open(path, encoding="utf-8") as f:
            config = text_format.Parse(f.read(1 << 16), _monitoring_config_class()())
    except OSError as e:
        raise CatdogError(f"{path}: cannot read the monitoring config: {e.strerror or e}") from e
    except (text_format.ParseError, UnicodeDecodeError) as e:
        raise CatdogError(f"{path}: not a MonitoringConfig text proto: {e}") from e
    if config.prometheus_config.path not in ("", METRICS_PATH):
        raise CatdogError(
            f"{path}: catdog serve serves its metrics at {METRICS_PATH}, not {config.prometheus_config.path}"
        )
    return config
