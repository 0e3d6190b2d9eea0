"""The Trainer's module: run_fn trains a preset CNN on Transform's output and exports it for serving."""

import dataclasses
import json
import math
import os
import sys
from typing import Any, Dict, List, Optional, Tuple

import tensorflow as tf
import tensorflow_transform as tft
import tf_keras as keras
from absl import logging

from components import contract, distribution, exporter, models, train_input
from components import settings_core
from components.training_settings import LR_SCHEDULES, TrainingSettings


HISTORY_FILE = "history.json"
SUMMARY_FILE = "model_summary.txt"


@dataclasses.dataclass(frozen=True)
class TrainConfig(TrainingSettings):
    """The Trainer's custom_config (keys: the field names): fields, defaults and checks are TrainingSettings'."""

    @classmethod
    def from_custom_config(cls, config: Dict[str, Any]) -> "TrainConfig":
        kinds = {f.name: settings_core.value_type(f) for f in dataclasses.fields(cls)}
        return cls(**{k: None if v is None else kinds[k](v) for k, v in (config or {}).items() if k in kinds})

    def recipe(self) -> models.Recipe:
        """The preset's recipe with this config's explicit values over it."""
        preset_recipe = models.preset(self.model_preset).recipe
        overrides = {f.name: getattr(self, f.name) for f in dataclasses.fields(models.Recipe)
                     if getattr(self, f.name, None) is not None}
        return dataclasses.replace(preset_recipe, **overrides)


def ingest_report(train_files: List[str]) -> contract.IngestReport:
    """The report ImageExampleGen wrote at the root of its Examples artifact (train_files: <root>/Split-train/*)."""
    return contract.IngestReport.read(os.path.dirname(os.path.dirname(train_files[0])))


def input_plan(memory_share: float, train_files: List[str], tf_transform_output) -> train_input.InputPlan:
    """Cache or stream, decided from the counts of examples before any is read; logged with its reason."""
    report = ingest_report(train_files)
    train_examples = report.images("train")
    chosen = train_input.plan(
        train_examples, report.images("eval"),
        train_input.decoded_example_bytes(tf_transform_output),
        train_input.encoded_example_bytes(train_files, train_examples),
        memory_share, train_input.machine_memory_bytes(),
    )
    logging.info("Trainer input: %s", chosen.reason())
    return chosen


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


def learning_rate(initial: float, schedule: str, epochs: int, steps_per_epoch: int, replicas: int = 1):
    initial = scaled_learning_rate(initial, replicas)
    if schedule == "cosine":
        return keras.optimizers.schedules.CosineDecay(initial, epochs * steps_per_epoch)
    if schedule != "constant":
        raise ValueError(f"unknown lr_schedule {schedule!r}; choose from {', '.join(LR_SCHEDULES)}")
    return initial


def initial_learning_rate(optimizer: keras.optimizers.Optimizer) -> float:
    """The rate an optimizer started from, constant or the start of its schedule."""
    rate = optimizer.get_config()["learning_rate"]
    return float(rate["config"]["initial_learning_rate"] if isinstance(rate, dict) else rate)


def keep_weights_callbacks(config: TrainConfig, recipe: models.Recipe, epochs: int) -> List[keras.callbacks.Callback]:
    """Which epoch's weights training ends on: the best validation loss with early stopping; the best validation
    accuracy for from-scratch presets (they peak, then overfit); the last one for a fixed schedule."""
    if config.early_stopping_patience:
        return [keras.callbacks.EarlyStopping(
            monitor="val_loss", patience=config.early_stopping_patience, restore_best_weights=True
        )]
    if recipe.keep_best_epoch:
        return [keras.callbacks.EarlyStopping(
            monitor="val_accuracy", mode="max", patience=epochs, restore_best_weights=True
        )]
    return []


def training_phases(recipe: models.Recipe) -> List[Tuple[int, float]]:
    """(epochs, initial learning rate) per phase: the whole model (or the head on a frozen backbone), then
    the fine-tuning of a pretrained backbone's top blocks."""
    phases = [(recipe.epochs, recipe.learning_rate)]
    if recipe.fine_tune_epochs:
        phases.append((recipe.fine_tune_epochs, recipe.fine_tune_learning_rate))
    return phases


def _write_text(path: str, text: str) -> None:
    with tf.io.gfile.GFile(path, "w") as f:
        f.write(text)


def _compile(model: keras.Model, rate) -> None:
    model.compile(
        optimizer=keras.optimizers.Adam(rate),
        loss=keras.losses.BinaryCrossentropy(),
        metrics=[keras.metrics.BinaryAccuracy(name="accuracy")],
    )


def fit(
    model, preset: models.Preset, config: TrainConfig, train, val, steps_per_epoch: int, callbacks, replicas: int = 1
) -> Dict[str, Any]:
    """Trains phase after phase (compiling anew: the trainable set changes) and returns the history record."""
    recipe = config.recipe()
    phases = training_phases(recipe)
    history: Dict[str, List[float]] = {}
    done = 0
    kept = []
    for phase, (epochs, initial_rate) in enumerate(phases):
        last_phase = phase == len(phases) - 1
        if phase:
            preset.unfreeze_top(model)
        _compile(model, learning_rate(initial_rate, recipe.lr_schedule, epochs, steps_per_epoch, replicas))
        kept = keep_weights_callbacks(config, recipe, epochs) if last_phase else []
        result = model.fit(
            train, validation_data=val, initial_epoch=done, epochs=done + epochs,
            callbacks=callbacks + kept, verbose=1 if sys.stdout.isatty() else 2,
        )
        for key, values in result.history.items():
            history.setdefault(key, []).extend(float(v) for v in values)
        done += len(result.epoch)
    kept_index = kept[0].best_epoch if kept else done - 1  # the epoch whose weights the model ends with
    return {
        "config": dataclasses.asdict(config),
        "recipe": dataclasses.asdict(recipe),
        "phase_epochs": [epochs for epochs, _ in phases],
        "history": history,
        "kept_epoch": kept_index + 1,
        "kept_val_accuracy": history["val_accuracy"][kept_index],
        "kept_by": "best validation" if kept else "last epoch of a fixed schedule",
    }


def backbone_weights(preset: models.Preset, config: TrainConfig) -> Optional[str]:
    return models.resolve_weights(preset.weights_origin, config.backbone_weights) if preset.weights_origin else None


def float32_copy(model: keras.Model, preset_name: str, input_shape) -> keras.Model:
    """The trained model computing in float32: mixed precision speeds a GPU's training, but a float16 graph
    is slow on CPU servers and mixes dtypes in Grad-CAM. Variables are float32 under both policies."""
    if model.compute_dtype == "float32":
        return model
    keras.mixed_precision.set_global_policy("float32")
    copy = models.build(preset_name, input_shape)
    copy.set_weights(model.get_weights())
    return copy


def run_fn(fn_args) -> None:
    config = TrainConfig.from_custom_config(fn_args.custom_config)
    placement = distribution.place(config.distribution_strategy)  # first: it may configure collective ops
    preset = models.preset(config.model_preset)
    weights = backbone_weights(preset, config)  # first: a missing file fails the run before any work
    seed_and_determinism(config)
    tf_transform_output = tft.TFTransformOutput(fn_args.transform_output)
    report = ingest_report(fn_args.train_files)
    class_names = report.class_names
    strategy = placement.strategy
    batch_size = placement.global_batch(config.batch_size)
    plan = input_plan(config.train_cache_memory_share, fn_args.train_files, tf_transform_output)
    train = placement.shard(train_input.make_dataset(
        fn_args.train_files, fn_args.data_accessor, tf_transform_output, batch_size, plan, config.seed))
    val = placement.shard(
        train_input.make_dataset(fn_args.eval_files, fn_args.data_accessor, tf_transform_output, batch_size, plan))
    image_shape = tf_transform_output.transformed_feature_spec()[contract.IMAGE_KEY].shape
    train_examples = report.images("train")
    steps_per_epoch = math.ceil(train_examples / batch_size)
    model_run_dir = placement.output_dir(fn_args.model_run_dir)  # the chief's: TFX's; other workers': their own

    with strategy.scope():
        model = preset.build(image_shape, weights)
    summary: List[str] = []
    model.summary(print_fn=summary.append)
    logging.info("\n".join(summary))
    tf.io.gfile.makedirs(model_run_dir)
    _write_text(os.path.join(model_run_dir, SUMMARY_FILE), "\n".join(summary) + "\n")

    with strategy.scope():
        tensorboard = keras.callbacks.TensorBoard(log_dir=os.path.join(model_run_dir, "logs"))
        steps = distribution.StepCounter()
        record = fit(model, preset, config, train, val, steps_per_epoch, [tensorboard, steps],
                     strategy.num_replicas_in_sync)
    record["class_names"] = class_names
    record["input"] = {**dataclasses.asdict(plan), "reason": plan.reason()}
    record["distribution"] = {**placement.record(config.batch_size, train_examples, steps_per_epoch, steps),
                              "last_phase_learning_rate": initial_learning_rate(model.optimizer)}
    _write_text(os.path.join(model_run_dir, HISTORY_FILE), json.dumps(record, indent=2))
    exporter.export(float32_copy(model, config.model_preset, image_shape), tf_transform_output, class_names,
                    placement.output_dir(fn_args.serving_model_dir))
    placement.finish(fn_args.model_run_dir, fn_args.serving_model_dir)
