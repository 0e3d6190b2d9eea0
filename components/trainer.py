"""The Trainer's module: run_fn trains a preset CNN on Transform's output and exports it for serving."""

import dataclasses
import json
import math
import os
import sys
from typing import Any, Dict, List

import tensorflow as tf
import tensorflow_transform as tft
import tf_keras as keras
from absl import logging
from tfx_bsl.public import tfxio

from components import exporter, features, models
from pipeline.settings import LR_SCHEDULES, TrainingSettings


HISTORY_FILE = "history.json"
SUMMARY_FILE = "model_summary.txt"
_SHUFFLE_BUFFER = 10_000  # above the tutorial's 2,000 training images: a full reshuffle every epoch


@dataclasses.dataclass(frozen=True)
class TrainConfig(TrainingSettings):
    """The Trainer's custom_config (keys: the field names): fields, defaults and checks are TrainingSettings'."""

    @classmethod
    def from_custom_config(cls, config: Dict[str, Any]) -> "TrainConfig":
        fields = {f.name: f.type for f in dataclasses.fields(cls)}
        return cls(**{k: fields[k](v) for k, v in (config or {}).items() if k in fields})


def distribution_strategy() -> tf.distribute.Strategy:
    """All local GPUs with float16 compute when there are any, the default (CPU) strategy otherwise."""
    if tf.config.list_physical_devices("GPU"):
        keras.mixed_precision.set_global_policy("mixed_float16")
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def _read_examples_json(train_files: List[str], name: str):
    """A file ImageExampleGen writes at the root of its Examples artifact (train_files: <root>/Split-train/*)."""
    examples_root = os.path.dirname(os.path.dirname(train_files[0]))
    with tf.io.gfile.GFile(os.path.join(examples_root, name)) as f:
        return json.load(f)


def read_label_names(train_files: List[str]) -> List[str]:
    return _read_examples_json(train_files, features.LABEL_NAMES_FILE)


def count_train_examples(train_files: List[str]) -> int:
    return sum(_read_examples_json(train_files, features.INGEST_REPORT_FILE)["counts"]["train"].values())


def seed_and_determinism(config: TrainConfig) -> None:
    """Seeds Python, NumPy and TensorFlow; with config.deterministic also makes TensorFlow's ops
    deterministic (same data, same seed: the same weights, at some speed cost on GPU)."""
    keras.utils.set_random_seed(config.seed)
    if config.deterministic:
        tf.config.experimental.enable_op_determinism()


def scaled_learning_rate(learning_rate_one_replica: float, replicas: int) -> float:
    """MirroredStrategy runs batch_size images on each replica, so N replicas take steps N times as big
    and N times fewer: the linear scaling rule (Goyal et al., 2017) keeps the measured one-replica
    recipe's progress per epoch by scaling the learning rate with N."""
    return learning_rate_one_replica * replicas


def learning_rate(config: TrainConfig, steps_per_epoch: int, replicas: int = 1):
    rate = scaled_learning_rate(config.learning_rate, replicas)
    if config.lr_schedule == "cosine":
        return keras.optimizers.schedules.CosineDecay(rate, config.epochs * steps_per_epoch)
    if config.lr_schedule != "constant":
        raise ValueError(f"unknown lr_schedule {config.lr_schedule!r}; choose from {', '.join(LR_SCHEDULES)}")
    return rate


def best_weights_callback(config: TrainConfig) -> keras.callbacks.Callback:
    """Validation accuracy peaks, then the model overfits: training ends on the best epoch's weights."""
    if config.early_stopping_patience:
        return keras.callbacks.EarlyStopping(
            monitor="val_loss", patience=config.early_stopping_patience, restore_best_weights=True
        )
    return keras.callbacks.EarlyStopping(
        monitor="val_accuracy", mode="max", patience=config.epochs, restore_best_weights=True
    )


def make_dataset(
    file_pattern: List[str],
    data_accessor,
    tf_transform_output: tft.TFTransformOutput,
    batch_size: int,
    shuffle_seed: int = None,
) -> tf.data.Dataset:
    """Raw examples through the Transform graph, decoded once and cached in memory; reshuffled every epoch."""
    raw = data_accessor.tf_dataset_factory(
        file_pattern,
        tfxio.TensorFlowDatasetOptions(batch_size=64, num_epochs=1, shuffle=False),
        tf_transform_output.raw_metadata.schema,
    )
    dataset = (
        raw.map(tf_transform_output.transform_raw_features, num_parallel_calls=tf.data.AUTOTUNE)
        .map(lambda f: (f[features.IMAGE_KEY], tf.cast(f[features.LABEL_KEY], tf.float32)))
        .unbatch()
        .cache()
    )
    if shuffle_seed is not None:
        dataset = dataset.shuffle(_SHUFFLE_BUFFER, seed=shuffle_seed, reshuffle_each_iteration=True)
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def _write_text(path: str, text: str) -> None:
    with tf.io.gfile.GFile(path, "w") as f:
        f.write(text)


def run_fn(fn_args) -> None:
    config = TrainConfig.from_custom_config(fn_args.custom_config)
    seed_and_determinism(config)
    tf_transform_output = tft.TFTransformOutput(fn_args.transform_output)
    class_names = read_label_names(fn_args.train_files)
    strategy = distribution_strategy()
    batch_size = config.batch_size * strategy.num_replicas_in_sync
    train = make_dataset(fn_args.train_files, fn_args.data_accessor, tf_transform_output, batch_size, config.seed)
    val = make_dataset(fn_args.eval_files, fn_args.data_accessor, tf_transform_output, batch_size)
    image_shape = tf_transform_output.transformed_feature_spec()[features.IMAGE_KEY].shape

    steps_per_epoch = math.ceil(count_train_examples(fn_args.train_files) / batch_size)

    with strategy.scope():
        model = models.build(config.model_preset, image_shape)
        model.compile(
            optimizer=keras.optimizers.Adam(learning_rate(config, steps_per_epoch, strategy.num_replicas_in_sync)),
            loss=keras.losses.BinaryCrossentropy(),
            metrics=[keras.metrics.BinaryAccuracy(name="accuracy")],
        )
    summary: List[str] = []
    model.summary(print_fn=summary.append)
    logging.info("\n".join(summary))
    tf.io.gfile.makedirs(fn_args.model_run_dir)
    _write_text(os.path.join(fn_args.model_run_dir, SUMMARY_FILE), "\n".join(summary) + "\n")

    keep_best = best_weights_callback(config)
    history = model.fit(
        train,
        validation_data=val,
        epochs=config.epochs,
        callbacks=[
            keras.callbacks.TensorBoard(log_dir=os.path.join(fn_args.model_run_dir, "logs")),
            keep_best,
        ],
        verbose=1 if sys.stdout.isatty() else 2,
    )
    best_epoch = keep_best.best_epoch  # the epoch whose weights were restored
    record = {
        "config": dataclasses.asdict(config),
        "class_names": class_names,
        "history": {k: [float(v) for v in vs] for k, vs in history.history.items()},
        "best_epoch": best_epoch + 1,
        "best_val_accuracy": float(history.history["val_accuracy"][best_epoch]),
    }
    _write_text(os.path.join(fn_args.model_run_dir, HISTORY_FILE), json.dumps(record, indent=2))
    exporter.export(model, tf_transform_output, class_names, fn_args.serving_model_dir)
