"""Which tf.distribute strategy the Trainer trains under, and what it changes: the replicas, the global batch,
the float16 policy, and where each worker of a cluster writes.

`auto` picks what the machine offers: the TF_CONFIG cluster (MultiWorkerMirroredStrategy, how Vertex AI Training
runs a Trainer's worker pools), else every local GPU (MirroredStrategy), else the default strategy (one device).
`mirrored` named explicitly mirrors every local GPU, or every logical CPU device when there is none (how the
tests run two replicas on one CPU). Mixed precision is for GPUs only: CPUs have few float16 kernels.
"""

import dataclasses
import os
import time
from typing import Any

import tensorflow as tf
import tf_keras as keras
from absl import logging

AUTO = "auto"
DEFAULT = "default"
MIRRORED = "mirrored"
MULTI_WORKER = "multi_worker"
STRATEGIES = (AUTO, DEFAULT, MIRRORED, MULTI_WORKER)  # components/training_settings.py names them too
CHIEF = "chief"
WORKER = "worker"


def cluster_task() -> tuple[str | None, int, int, bool]:
    """(task type, index, machines, whether the cluster has a chief) from TF_CONFIG: (None, 0, 1, False) outside
    a cluster."""
    resolver = tf.distribute.cluster_resolver.TFConfigClusterResolver()
    jobs = resolver.cluster_spec().as_dict()
    machines = sum(len(tasks) for job, tasks in jobs.items() if job in (CHIEF, WORKER))
    return (resolver.task_type or None), int(resolver.task_id or 0), max(machines, 1), CHIEF in jobs


def is_chief(task_type: str | None, index: int, has_chief: bool) -> bool:
    """The worker that writes the model: the chief, else worker 0 of a cluster without one (TensorFlow's rule)."""
    return task_type is None or task_type == CHIEF or (task_type == WORKER and index == 0 and not has_chief)


class StepCounter(keras.callbacks.Callback):
    """The training steps each epoch ran, and its seconds (validation included): with the examples and the global
    batch the steps show how the replicas and workers split the data (each worker taking every example would
    double them)."""

    def __init__(self):
        super().__init__()
        self.steps: list[int] = []
        self.seconds: list[float] = []

    def on_epoch_begin(self, epoch, logs=None):
        self.steps.append(0)
        self.seconds.append(-time.perf_counter())

    def on_train_batch_end(self, batch, logs=None):
        self.steps[-1] += 1

    def on_epoch_end(self, epoch, logs=None):
        self.seconds[-1] += time.perf_counter()


@dataclasses.dataclass(frozen=True)
class Placement:
    """The strategy chosen for this process, why, and this process's part in it (recorded in history.json)."""

    strategy: tf.distribute.Strategy
    name: str  # a name of STRATEGIES other than auto
    reason: str
    devices: tuple[str, ...]  # this worker's
    workers: int
    task_type: str | None
    task_index: int
    chief: bool
    mixed_precision: bool

    @property
    def replicas(self) -> int:
        return self.strategy.num_replicas_in_sync

    def global_batch(self, per_replica: int) -> int:
        return per_replica * self.replicas

    def output_dir(self, path: str) -> str:
        """The chief writes where TFX expects; every other worker writes the same things (saving a model takes
        part in the cluster's collective ops) to its own temporary folder beside it, removed by finish()."""
        if self.chief:
            return path
        return os.path.join(
            os.path.dirname(path), f"workertemp_{self.task_type}_{self.task_index}", os.path.basename(path)
        )

    def shard(self, dataset: tf.data.Dataset) -> tf.data.Dataset:
        """Each worker trains on its share of the examples. By example, not by file: ImageExampleGen writes few
        files a split, fewer than a cluster may have workers, so every worker reads them all and keeps its share."""
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
        return dataset.with_options(options)

    def finish(self, *paths: str) -> None:
        """Waits for every worker (the chief's model is complete when the others return: TFX checks it is there),
        then removes this worker's temporary folders."""
        if self.workers > 1:
            all_reduce = tf.function(
                lambda: self.strategy.run(
                    lambda: tf.distribute.get_replica_context().all_reduce("sum", tf.constant(1.0))
                )
            )
            all_reduce()
        for path in paths:
            own = self.output_dir(path)
            if own != path and tf.io.gfile.exists(os.path.dirname(own)):
                tf.io.gfile.rmtree(os.path.dirname(own))

    def record(self, per_replica_batch: int, examples: int, steps_per_epoch: int, run: StepCounter) -> dict[str, Any]:
        return {
            "strategy": self.name,
            "reason": self.reason,
            "replicas": self.replicas,
            "workers": self.workers,
            "task": {"type": self.task_type, "index": self.task_index, "chief": self.chief},
            "devices": list(self.devices),
            "mixed_precision": self.mixed_precision,
            "per_replica_batch": per_replica_batch,
            "global_batch": self.global_batch(per_replica_batch),
            "train_examples": examples,
            "steps_per_epoch": steps_per_epoch,
            "steps_run": run.steps,
            "epoch_seconds": [round(seconds, 3) for seconds in run.seconds],
        }


def _resolve(name: str, gpus: int, machines: int) -> tuple[str, str]:
    if name == AUTO:
        if machines > 1:
            return MULTI_WORKER, f"auto: TF_CONFIG names a cluster of {machines} workers"
        if gpus:
            return MIRRORED, f"auto: {gpus} local GPU(s)"
        return DEFAULT, "auto: no GPU and no TF_CONFIG cluster"
    if name not in STRATEGIES:
        raise ValueError(f"unknown distribution strategy {name!r}; choose from {', '.join(STRATEGIES)}")
    return name, "named in the settings"


def place(name: str = AUTO) -> Placement:
    """The strategy for name (one of STRATEGIES). Call it before any other TensorFlow work: a multi-worker
    strategy configures the collective ops, which TensorFlow allows only at program start."""
    task_type, task_index, machines, has_chief = cluster_task()
    gpus = tf.config.list_physical_devices("GPU")  # the logical ones would initialise TensorFlow's devices
    chosen, reason = _resolve(name, len(gpus), machines)
    mixed_precision = bool(gpus) and chosen != DEFAULT
    if mixed_precision:
        keras.mixed_precision.set_global_policy("mixed_float16")
    if chosen == MULTI_WORKER:
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
    elif chosen == MIRRORED:
        cpus = [d.name for d in tf.config.list_logical_devices("CPU")]
        strategy = tf.distribute.MirroredStrategy(None if gpus else cpus)  # None: every GPU
    else:
        strategy = tf.distribute.get_strategy()
    # The default strategy has no device list: it runs where TensorFlow places ops, the first GPU or the CPU.
    devices = tuple(strategy.extended.worker_devices) if chosen != DEFAULT else ("/GPU:0" if gpus else "/CPU:0",)
    if chosen != MULTI_WORKER:
        task_type, task_index, machines = None, 0, 1
    placement = Placement(
        strategy,
        chosen,
        reason,
        devices,
        machines,
        task_type,
        task_index,
        is_chief(task_type, task_index, has_chief),
        mixed_precision,
    )
    logging.info(
        "Trainer distribution: %s (%s): %d replica(s) over %d worker(s), this one %s %d%s; devices %s",
        chosen,
        reason,
        placement.replicas,
        machines,
        task_type or "alone",
        task_index,
        " (chief)" if placement.chief else "",
        ", ".join(devices),
    )
    return placement
