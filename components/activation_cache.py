"""A pretrained preset's frozen part, computed once per image: the Trainer's input for both of its phases.

In the head phase the whole backbone is frozen and in the fine-tuning phase all but its top blocks, so those
layers give every image the same activations epoch after epoch. They are computed once (for each training
image and its horizontal flip, the one augmentation that can be cached: each epoch takes one of the two at
random), kept in memory as float16 (ReLU6 activations in [0, 6] keep three significant digits), and the
phases train only what lies above them. Bounded by --train-cache-memory-share like the image cache: the
Trainer falls back to reading images when they do not fit.
"""

import dataclasses
import math

import numpy as np
import tensorflow as tf
import tf_keras as keras

ACTIVATIONS = "activations"
STORED_DTYPE = np.float16
TRAINING_COPIES = 2  # each training image and its horizontal flip
FORWARD_BATCH = 50  # images a step of the one forward pass


@dataclasses.dataclass(frozen=True)
class ActivationPlan:
    """Whether the frozen part's activations fit the budget, and the figures that decided it (history.json)."""

    boundary: str  # the last layer of the frozen part
    train_examples: int
    eval_examples: int
    training_copies: int
    example_bytes: int  # one image's activations, as stored
    budget_bytes: int
    memory_bytes: int
    memory_share: float

    @property
    def total_bytes(self) -> int:
        return (self.train_examples * self.training_copies + self.eval_examples) * self.example_bytes

    @property
    def fits(self) -> bool:
        return self.total_bytes <= self.budget_bytes

    def reason(self) -> str:
        relation = "fit" if self.fits else "exceed"
        outcome = "the frozen part runs once per image" if self.fits else "the images are read every epoch"
        return (
            f"{self.boundary} activations ({self.train_examples} training x {self.training_copies} copies + "
            f"{self.eval_examples} eval, {self.example_bytes:,} bytes each = {self.total_bytes / 2**30:.2f} GiB) "
            f"{relation} the budget of {self.budget_bytes / 2**30:.2f} GiB ({self.memory_share:g} of "
            f"{self.memory_bytes / 2**30:.2f} GiB): {outcome}"
        )


def plan(
    boundary: str, boundary_shape, train_examples: int, eval_examples: int, memory_share: float, memory_bytes: int
) -> ActivationPlan:
    example_bytes = math.prod(boundary_shape) * np.dtype(STORED_DTYPE).itemsize
    return ActivationPlan(
        boundary,
        train_examples,
        eval_examples,
        TRAINING_COPIES,
        example_bytes,
        int(memory_share * memory_bytes),
        memory_bytes,
        memory_share,
    )


def compute(
    frozen: keras.Model, image_batches: tf.data.Dataset, examples: int, copies: int
) -> tuple[np.ndarray, np.ndarray]:
    """(activations [examples, copies, ...] as STORED_DTYPE, labels [examples, 1]) of (image, label) batches:
    copy 0 of the image, copy 1 of its horizontal flip."""

    @tf.function
    def forward(images):
        variants = [images, tf.image.flip_left_right(images)][:copies]
        return tf.stack([tf.cast(frozen(v, training=False), STORED_DTYPE) for v in variants], axis=1)

    activations = np.empty((examples, copies, *frozen.output.shape[1:]), STORED_DTYPE)
    labels = np.empty((examples, 1), np.float32)
    done = 0
    for images, batch_labels in image_batches:
        count = int(tf.shape(images)[0])
        if done + count > examples:
            raise ValueError(f"more than the {examples} examples the ingest report counts")
        activations[done : done + count] = forward(images).numpy()
        labels[done : done + count] = batch_labels.numpy().reshape((count, 1))
        done += count
    if done != examples:
        raise ValueError(f"{done} examples read, the ingest report counts {examples}")
    return activations, labels


def apply(model: keras.Model, activations: np.ndarray, dtype=STORED_DTYPE) -> np.ndarray:
    """model on every copy of every example ([examples, copies, ...] in and out), as dtype."""
    examples, copies = activations.shape[:2]
    flat = activations.reshape((examples * copies, *activations.shape[2:]))
    outputs = [
        model(tf.cast(flat[i : i + FORWARD_BATCH], tf.float32), training=False).numpy()
        for i in range(0, len(flat), FORWARD_BATCH)
    ]
    return np.concatenate(outputs).astype(dtype).reshape((examples, copies, *outputs[0].shape[1:]))


def _batches(
    activations: np.ndarray, labels: np.ndarray, examples_and_copies: tf.data.Dataset, batch_size: int
) -> tf.data.Dataset:
    """(activations as float32, labels) batches of the (example, copy) pairs, gathered from the arrays where they
    are: a tf.data constant of them would copy them twice over."""

    def gather(examples, copies):
        return activations[examples, copies], labels[examples]

    def gathered(examples, copies):
        batch, batch_labels = tf.numpy_function(
            gather, [examples, copies], (activations.dtype, labels.dtype), stateful=False
        )
        batch.set_shape((None, *activations.shape[2:]))
        batch_labels.set_shape((None, *labels.shape[1:]))
        return tf.cast(batch, tf.float32), batch_labels

    return examples_and_copies.batch(batch_size).map(gathered).prefetch(tf.data.AUTOTUNE)


def training_batches(activations: np.ndarray, labels: np.ndarray, batch_size: int, seed: int) -> tf.data.Dataset:
    """Every example once an epoch, shuffled anew each epoch, each as one of its copies drawn at random."""
    examples, copies = activations.shape[:2]
    order = tf.data.Dataset.range(examples).shuffle(examples, seed=seed, reshuffle_each_iteration=True)
    copy = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).map(lambda r: tf.math.floormod(r, copies))
    return _batches(activations, labels, tf.data.Dataset.zip(order, copy), batch_size)


def eval_batches(activations: np.ndarray, labels: np.ndarray, batch_size: int) -> tf.data.Dataset:
    """Copy 0 of every example, in order."""
    order = tf.data.Dataset.range(len(activations))
    return _batches(
        activations, labels, tf.data.Dataset.zip(order, order.map(lambda _: tf.constant(0, tf.int64))), batch_size
    )
