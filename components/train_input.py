"""The Trainer's input: decoded once and cached in memory when that fits its memory budget, else streamed.

A decoded 150x150 image is 270 KB of float32 (25,000 are 6.7 GB), ten times its JPEG. The counts of
examples are known before training (the ingest report), so the choice is made up front and recorded:
the cache when the decoded training and validation sets fit the budget (--train-cache-memory-share of the
machine's or container's memory), else every epoch reads the TFRecords again and decodes them in parallel.
"""

import dataclasses
import math

import psutil
import tensorflow as tf
import tensorflow_transform as tft
from tfx_bsl.public import tfxio

from components import contract

CACHE = "cache"
STREAM = "stream"
# cgroup v2, then v1: a container's memory limit, which /proc/meminfo (psutil) does not show.
_CGROUP_LIMIT_FILES = ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes")
_READ_BATCH = 64  # examples a read-and-parse step


def machine_memory_bytes() -> int:
    """The memory this process's machine has, or its container's limit when that is lower."""
    limits = [psutil.virtual_memory().total]
    for path in _CGROUP_LIMIT_FILES:
        try:
            with open(path) as f:
                text = f.read().strip()
        except OSError:
            continue
        if text.isdigit():  # "max" (v2) means no limit; v1 says so with a huge number, above the total
            limits.append(int(text))
    return min(limits)


@dataclasses.dataclass(frozen=True)
class InputPlan:
    """How the Trainer reads its examples, and the figures that decided it (recorded in history.json)."""

    path: str  # CACHE or STREAM
    examples: int  # training and validation
    decoded_bytes: int  # of those examples, decoded
    budget_bytes: int
    memory_bytes: int
    memory_share: float
    shuffle_buffer: int  # training examples the shuffle holds

    @property
    def cache(self) -> bool:
        return self.path == CACHE

    def reason(self) -> str:
        relation = "fit" if self.cache else "exceed"
        return (
            f"{self.path}: the decoded training and validation images "
            f"({self.examples} x {self.decoded_bytes // self.examples:,} bytes = {self.decoded_bytes / 2**30:.2f} GiB) "
            f"{relation} the budget of {self.budget_bytes / 2**30:.2f} GiB "
            f"({self.memory_share:g} of {self.memory_bytes / 2**30:.2f} GiB)"
        )


def plan(
    train_examples: int,
    eval_examples: int,
    decoded_example_bytes: int,
    encoded_example_bytes: float,
    memory_share: float,
    memory_bytes: int,
) -> InputPlan:
    """The cache when every decoded example fits the budget. Either way the training split is shuffled in full
    every epoch: the cache's shuffle holds references to cached tensors, the stream's holds the encoded examples
    (a tenth of their decoded size), as many as the budget allows."""
    examples = train_examples + eval_examples
    decoded = examples * decoded_example_bytes
    budget = int(memory_share * memory_bytes)
    fits = decoded <= budget
    buffer = train_examples if fits else max(1, min(train_examples, int(budget // max(encoded_example_bytes, 1))))
    return InputPlan(CACHE if fits else STREAM, examples, decoded, budget, memory_bytes, memory_share, buffer)


def decoded_example_bytes(tf_transform_output: tft.TFTransformOutput) -> int:
    spec = tf_transform_output.transformed_feature_spec()[contract.IMAGE_KEY]
    return math.prod(spec.shape) * spec.dtype.size


def encoded_example_bytes(file_pattern: list[str], examples: int) -> float:
    """The mean size of an example on disk (JPEGs do not compress: about its size in memory)."""
    files = [name for pattern in file_pattern for name in tf.io.gfile.glob(pattern)]
    return sum(tf.io.gfile.stat(name).length for name in files) / max(examples, 1)


def make_dataset(
    file_pattern: list[str],
    data_accessor,
    tf_transform_output: tft.TFTransformOutput,
    batch_size: int,
    input_plan: InputPlan,
    shuffle_seed: int = None,
) -> tf.data.Dataset:
    """Raw examples through the Transform graph, as (image, label) batches; shuffled every epoch with a seed.

    Cached: decoded once, kept in memory, shuffled there. Streamed: the encoded examples are shuffled and
    decoded anew every epoch, batches in parallel. The same seed gives both the same order of examples
    when their shuffle buffers are the same size (the shuffle draws positions, whatever the elements hold).
    """
    raw = _raw_examples(file_pattern, data_accessor, tf_transform_output)
    examples = _decode(raw, tf_transform_output).unbatch().cache() if input_plan.cache else raw.unbatch()
    if shuffle_seed is not None:
        examples = examples.shuffle(input_plan.shuffle_buffer, seed=shuffle_seed, reshuffle_each_iteration=True)
    batches = examples.batch(batch_size)
    if not input_plan.cache:
        batches = _decode(batches, tf_transform_output)
    return batches.prefetch(tf.data.AUTOTUNE)


def read_once(
    file_pattern: list[str], data_accessor, tf_transform_output: tft.TFTransformOutput, batch_size: int
) -> tf.data.Dataset:
    """(image, label) batches in the files' order, decoded in parallel and kept nowhere: for a single pass."""
    raw = _raw_examples(file_pattern, data_accessor, tf_transform_output).unbatch().batch(batch_size)
    return _decode(raw, tf_transform_output).prefetch(tf.data.AUTOTUNE)


def file_names(file_pattern: list[str], data_accessor, tf_transform_output: tft.TFTransformOutput) -> list[str]:
    """The examples' file names, in the order read_once reads them (the same reads, nothing decoded)."""
    raw = _raw_examples(file_pattern, data_accessor, tf_transform_output)
    return [name.decode() for batch in raw for name in batch[contract.FILENAME_KEY].numpy().ravel()]


def _raw_examples(file_pattern: list[str], data_accessor, tf_transform_output: tft.TFTransformOutput):
    return data_accessor.tf_dataset_factory(
        file_pattern,
        # The reads interleave the files in parallel (tfxio's default); the order stays deterministic.
        tfxio.TensorFlowDatasetOptions(batch_size=_READ_BATCH, num_epochs=1, shuffle=False),
        tf_transform_output.raw_metadata.schema,
    )


def _decode(batches: tf.data.Dataset, tf_transform_output: tft.TFTransformOutput) -> tf.data.Dataset:
    return batches.map(
        lambda f: _image_and_label(tf_transform_output.transform_raw_features(f)),
        num_parallel_calls=tf.data.AUTOTUNE,
    )


def _image_and_label(transformed):
    return transformed[contract.IMAGE_KEY], tf.cast(transformed[contract.LABEL_KEY], tf.float32)
