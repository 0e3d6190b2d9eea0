"""Server-side batching as TF Serving does it (--enable_batching): concurrent Predict requests for the
same version and signature are merged into one model call, and each gets its own rows back.

Settings come from TF Serving's batching_parameters.txt (BatchingParameters, protobuf text format),
so the file the deploy folder gives the real server configures this one too."""

import collections
import dataclasses
import logging
import os
import threading
import time
from collections.abc import Callable, Hashable, Mapping

import grpc
import numpy as np
import tensorflow as tf
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, text_format, wrappers_pb2

from components import files
from components.errors import CatdogError
from serving.status import ServingError

log = logging.getLogger(__name__)

Outputs = dict[str, np.ndarray]
ModelCall = Callable[[Mapping[str, tf.Tensor]], Outputs]

# BatchingParameters' fields (tensorflow_serving/servables/tensorflow/session_bundle_config.proto), so a
# file written for TF Serving parses here; the pip package does not ship that proto's Python module.
_WRAPPED_FIELDS = {
    "max_batch_size": "Int64Value",
    "batch_timeout_micros": "Int64Value",
    "max_enqueued_batches": "Int64Value",
    "num_batch_threads": "Int64Value",
    "thread_pool_name": "StringValue",
    "enable_large_batch_splitting": "BoolValue",
    "max_execution_batch_size": "Int64Value",
}
# Parsed but not acted on: they tune padding and splitting inside TF Serving's batching session.
_IGNORED_FIELDS = ("thread_pool_name", "max_execution_batch_size", "allowed_batch_sizes", "pad_variable_length_inputs")


def _batching_parameters_class():
    file = descriptor_pb2.FileDescriptorProto(
        name="catdog/batching_parameters.proto",
        package="tensorflow.serving",
        dependency=["google/protobuf/wrappers.proto"],
        syntax="proto3",
    )
    message = file.message_type.add(name="BatchingParameters")
    FieldProto = descriptor_pb2.FieldDescriptorProto
    for number, (name, wrapper) in enumerate(_WRAPPED_FIELDS.items(), 1):
        message.field.add(
            name=name,
            number=number,
            label=FieldProto.LABEL_OPTIONAL,
            type=FieldProto.TYPE_MESSAGE,
            type_name=f".google.protobuf.{wrapper}",
        )
    message.field.add(
        name="allowed_batch_sizes", number=20, label=FieldProto.LABEL_REPEATED, type=FieldProto.TYPE_INT64
    )
    message.field.add(
        name="pad_variable_length_inputs", number=21, label=FieldProto.LABEL_OPTIONAL, type=FieldProto.TYPE_BOOL
    )
    pool = descriptor_pool.DescriptorPool()
    pool.AddSerializedFile(wrappers_pb2.DESCRIPTOR.serialized_pb)
    pool.Add(file)
    return message_factory.MessageFactory(pool).GetPrototype(
        pool.FindMessageTypeByName("tensorflow.serving.BatchingParameters")
    )


BatchingParameters = _batching_parameters_class()


@dataclasses.dataclass(frozen=True)
class BatchingOptions:
    """TF Serving's defaults where the file says nothing (BasicBatchScheduler::Options)."""

    max_batch_size: int = 1000
    batch_timeout_micros: int = 0
    max_enqueued_batches: int = 10
    num_batch_threads: int = os.cpu_count() or 1
    # A request larger than max_batch_size is refused (TF Serving's default) or, with this, run alone.
    enable_large_batch_splitting: bool = False

    def __post_init__(self):
        for name in ("max_batch_size", "max_enqueued_batches", "num_batch_threads"):
            if getattr(self, name) < 1:
                raise CatdogError(f"batching parameter {name} must be at least 1, got {getattr(self, name)}")
        if self.batch_timeout_micros < 0:
            raise CatdogError(f"batching parameter batch_timeout_micros must be >= 0, got {self.batch_timeout_micros}")


def read_batching_parameters(path: str) -> BatchingOptions:
    """A TF Serving batching_parameters.txt; a bad file is a CatdogError naming it."""
    try:
        parameters = text_format.Parse(files.read_text(path), BatchingParameters())
    except files.FileRefused as e:
        raise CatdogError(f"{path}: cannot read the batching parameters: {e.reason}") from e
    except text_format.ParseError as e:
        raise CatdogError(f"{path}: not a TF Serving BatchingParameters text proto: {e}") from e
    ignored = [name for name in _IGNORED_FIELDS if _is_set(parameters, name)]
    if ignored:
        log.warning("%s: %s are TF Serving batching-session tuning; catdog serve ignores them", path, ignored)
    values = {
        field.name: getattr(parameters, field.name).value
        for field in dataclasses.fields(BatchingOptions)
        if parameters.HasField(field.name)
    }
    try:
        return BatchingOptions(**values)
    except CatdogError as e:
        raise CatdogError(f"{path}: {e}") from e


def _is_set(parameters, name: str) -> bool:
    value = getattr(parameters, name)
    return bool(value) if name in ("allowed_batch_sizes", "pad_variable_length_inputs") else parameters.HasField(name)


class _Task:
    def __init__(self, inputs: Mapping[str, tf.Tensor], size: int):
        self.inputs = inputs
        self.size = size
        self.done = threading.Event()
        self.outputs: Outputs | None = None
        self.error: BaseException | None = None


class _Batch:
    def __init__(self, key: Hashable, call: ModelCall, deadline: float):
        self.key = key
        self.call = call
        self.deadline = deadline
        self.tasks: list[_Task] = []
        self.size = 0


class BatchScheduler:
    """run(key, call, inputs, size) blocks until the batch holding the request has run.

    Requests with the same key (version and signature) join the open batch until it holds
    max_batch_size rows or batch_timeout_micros have passed since it opened; num_batch_threads batches
    run at once. A batch that fails is rerun one request at a time, so one undecodable image fails only
    the request that sent it."""

    def __init__(self, options: BatchingOptions, on_batch: Callable[[int], None] = lambda size: None):
        self.options = options
        self._on_batch = on_batch
        self._condition = threading.Condition()
        self._queue: collections.deque[_Batch] = collections.deque()  # oldest first
        self._open: dict[Hashable, _Batch] = {}  # per key, the batch still taking requests
        self._stopped = False
        self._threads = [
            threading.Thread(target=self._work, name=f"batch-{i}", daemon=True)
            for i in range(options.num_batch_threads)
        ]
        for thread in self._threads:
            thread.start()

    def run(self, key: Hashable, call: ModelCall, inputs: Mapping[str, tf.Tensor], size: int) -> Outputs:
        if size > self.options.max_batch_size:
            if self.options.enable_large_batch_splitting:
                return call(inputs)
            raise ServingError(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"Task size {size} is larger than maximum batch size {self.options.max_batch_size}",
            )
        task = _Task(inputs, size)
        with self._condition:
            batch = self._open.get(key)
            if batch is None or batch.size + size > self.options.max_batch_size:
                if len(self._queue) >= self.options.max_enqueued_batches:
                    raise ServingError(
                        grpc.StatusCode.UNAVAILABLE,
                        "The batch scheduling queue to which this task was submitted is full",
                    )
                batch = _Batch(key, call, time.monotonic() + self.options.batch_timeout_micros / 1e6)
                self._queue.append(batch)
                self._open[key] = batch
            batch.tasks.append(task)
            batch.size += size
            if batch.size == self.options.max_batch_size:
                del self._open[key]
            self._condition.notify_all()
        task.done.wait()
        if task.error is not None:
            raise task.error
        return task.outputs

    def _next_batch(self) -> _Batch | None:
        """The oldest batch that is full or out of time, removed from the queue; None once stopped."""
        with self._condition:
            while not self._stopped:
                now = time.monotonic()
                for batch in self._queue:
                    if batch.size >= self.options.max_batch_size or batch.deadline <= now:
                        self._queue.remove(batch)
                        if self._open.get(batch.key) is batch:
                            del self._open[batch.key]
                        return batch
                wait = min((b.deadline for b in self._queue), default=now + 3600) - now
                self._condition.wait(max(wait, 0))
            return None

    def _work(self) -> None:
        while True:
            batch = self._next_batch()
            if batch is None:
                return
            self._on_batch(batch.size)
            self._process(batch)

    def _process(self, batch: _Batch) -> None:
        tasks = batch.tasks
        if len(tasks) == 1:
            return _run_alone(batch.call, tasks[0])
        merged = {key: tf.concat([task.inputs[key] for task in tasks], axis=0) for key in tasks[0].inputs}
        try:
            outputs = batch.call(merged)
        except ServingError:
            outputs = None
        if outputs is None or any(value.shape[:1] != (batch.size,) for value in outputs.values()):
            # A failed batch, or outputs not one row per input row: each request on its own.
            for task in tasks:
                _run_alone(batch.call, task)
            return
        start = 0
        for task in tasks:
            task.outputs = {key: value[start : start + task.size] for key, value in outputs.items()}
            start += task.size
            task.done.set()

    def stop(self) -> None:
        with self._condition:
            self._stopped = True
            self._condition.notify_all()
        for thread in self._threads:
            thread.join()


def _run_alone(call: ModelCall, task: _Task) -> None:
    try:
        task.outputs = call(task.inputs)
    except BaseException as e:  # noqa: BLE001 - handed to the request's own thread, which raises it
        task.error = e
    task.done.set()
