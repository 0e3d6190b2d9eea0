"""The Trainer's module: run_fn trains a preset CNN on Transform's output and exports it for serving."""

import dataclasses
import json
import math
import os
import sys
from collections.abc import Callable
from typing import Any

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft
import tf_keras as keras
from absl import logging

from components import (
    activation_cache,
    contract,
    distribution,
    exporter,
    keras_autograph,
    models,
    ood,
    scores,
    settings_core,
    train_input,
)
from components.training_settings import LR_SCHEDULES, TrainingSettings

HISTORY_FILE = "history.json"
SUMMARY_FILE = "model_summary.txt"
VALIDATION_SCORES_FILE = "validation_scores.jsonl"  # write_validation_scores


@dataclasses.dataclass(frozen=True)
class TrainConfig(TrainingSettings):
    """The Trainer's custom_config (keys: the field names): fields, defaults and checks are TrainingSettings'."""

    @classmethod
    def from_custom_config(cls, config: dict[str, Any]) -> "TrainConfig":
        kinds = {f.name: settings_core.value_type(f) for f in dataclasses.fields(cls)}
        return cls(**{k: None if v is None else kinds[k](v) for k, v in (config or {}).items() if k in kinds})

    def recipe(self) -> models.Recipe:
        """The preset's recipe with this config's explicit values over it."""
        preset_recipe = models.preset(self.model_preset).recipe
        overrides = {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(models.Recipe)
            if getattr(self, f.name, None) is not None
        }
        return dataclasses.replace(preset_recipe, **overrides)


def ingest_report(train_files: list[str]) -> contract.IngestReport:
    """The report ImageExampleGen wrote at the root of its Examples artifact (train_files: <root>/Split-train/*)."""
    return contract.IngestReport.read(os.path.dirname(os.path.dirname(train_files[0])))


def input_plan(memory_share: float, train_files: list[str], tf_transform_output) -> train_input.InputPlan:
    """Cache or stream, decided from the counts of examples before any is read; logged with its reason."""
    report = ingest_report(train_files)
    train_examples = report.images("train")
    chosen = train_input.plan(
        train_examples,
        report.images("eval"),
        train_input.decoded_example_bytes(tf_transform_output),
        train_input.encoded_example_bytes(train_files, train_examples),
        memory_share,
        train_input.machine_memory_bytes(),
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


def keep_weights_callbacks(config: TrainConfig, recipe: models.Recipe, epochs: int) -> list[keras.callbacks.Callback]:
    """Which epoch's weights training ends on: the best validation loss with early stopping; the best validation
    accuracy for from-scratch presets (they peak, then overfit); the last one for a fixed schedule."""
    if config.early_stopping_patience:
        return [
            keras.callbacks.EarlyStopping(
                monitor="val_loss", patience=config.early_stopping_patience, restore_best_weights=True
            )
        ]
    if recipe.keep_best_epoch:
        return [
            keras.callbacks.EarlyStopping(
                monitor="val_accuracy", mode="max", patience=epochs, restore_best_weights=True
            )
        ]
    return []


def training_phases(recipe: models.Recipe) -> list[tuple[int, float]]:
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


# What a phase trains, on which input: (model, training batches, validation batches) from the phase's index.
PhaseInputs = Callable[[int], tuple[keras.Model, tf.data.Dataset, tf.data.Dataset]]


def images_in_every_phase(model: keras.Model, train: tf.data.Dataset, val: tf.data.Dataset) -> PhaseInputs:
    """The whole model trains on the images in every phase (what its layers' trainable flags let learn)."""
    return lambda phase: (model, train, val)


class CachedActivations:
    """The phases of a preset with a frozen part (Preset.frozen_through) on its activations, computed once
    (components/activation_cache.py): the head on the pooled features (the whole backbone is frozen), then the
    layers above the frozen part (the top blocks being fine-tuned and the head). They share the model's weights."""

    def __init__(
        self,
        model: keras.Model,
        preset: models.Preset,
        train: tuple[Any, Any],
        val: tuple[Any, Any],
        batch_size: int,
        seed: int,
    ):
        self.model, self.preset, self.train, self.val = model, preset, train, val
        self.batch_size, self.seed = batch_size, seed

    def _inputs(self, trained: keras.Model, train, val, seed: int):
        return (
            trained,
            activation_cache.training_batches(*train, self.batch_size, seed),
            activation_cache.eval_batches(*val, self.batch_size),
        )

    def __call__(self, phase: int):
        frozen_through, head_after = self.preset.frozen_through, self.preset.head_after
        if phase == 0:
            below_head = models.chain(self.model, frozen_through, head_after)
            pooled = [
                (activation_cache.apply(below_head, activations), labels)
                for activations, labels in (self.train, self.val)
            ]
            return self._inputs(models.chain(self.model, head_after), *pooled, self.seed)
        return self._inputs(models.chain(self.model, frozen_through), self.train, self.val, self.seed + phase)


def fit(
    model,
    preset: models.Preset,
    config: TrainConfig,
    inputs: PhaseInputs,
    steps_per_epoch: int,
    callbacks,
    replicas: int = 1,
) -> dict[str, Any]:
    """Trains phase after phase (compiling anew: the trainable set changes) and returns the history record."""
    recipe = config.recipe()
    phases = training_phases(recipe)
    history: dict[str, list[float]] = {}
    done = 0
    kept = []
    for phase, (epochs, initial_rate) in enumerate(phases):
        last_phase = phase == len(phases) - 1
        if phase:
            preset.unfreeze_top(model)
        trained, train, val = inputs(phase)
        _compile(trained, learning_rate(initial_rate, recipe.lr_schedule, epochs, steps_per_epoch, replicas))
        kept = keep_weights_callbacks(config, recipe, epochs) if last_phase else []
        result = trained.fit(
            train,
            validation_data=val,
            initial_epoch=done,
            epochs=done + epochs,
            callbacks=callbacks + kept,
            verbose=1 if sys.stdout.isatty() else 2,
        )
        for key, values in result.history.items():
            history.setdefault(key, []).extend(float(v) for v in values)
        done += len(result.epoch)
    kept_index = kept[0].best_epoch if kept else done - 1  # the epoch whose weights the model ends with
    return {
        # Read from the optimizer that ran (the model trained last may be a part of the model: the cached activations').
        "last_phase_learning_rate": initial_learning_rate(trained.optimizer),
        "config": dataclasses.asdict(config),
        "recipe": dataclasses.asdict(recipe),
        "phase_epochs": [epochs for epochs, _ in phases],
        "history": history,
        "kept_epoch": kept_index + 1,
        "kept_val_accuracy": history["val_accuracy"][kept_index],
        "kept_by": "best validation" if kept else "last epoch of a fixed schedule",
    }


def backbone_weights(preset: models.Preset, config: TrainConfig) -> str | None:
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


def activation_plan(
    model: keras.Model, preset: models.Preset, config: TrainConfig, report: contract.IngestReport
) -> activation_cache.ActivationPlan | None:
    """Whether the preset's frozen part's activations fit the memory budget (None: it has no frozen part)."""
    if not preset.frozen_through:
        return None
    chosen = activation_cache.plan(
        preset.frozen_through,
        model.get_layer(preset.frozen_through).output.shape[1:],
        report.images("train"),
        report.images("eval"),
        config.train_cache_memory_share,
        train_input.machine_memory_bytes(),
    )
    logging.info("Trainer input: %s", chosen.reason())
    return chosen


def cached_activations(
    model: keras.Model,
    preset: models.Preset,
    fn_args,
    tf_transform_output,
    report: contract.IngestReport,
    batch_size: int,
    seed: int,
) -> CachedActivations:
    """One forward pass of the frozen part over both splits (training images in both orientations)."""
    frozen = keras.Model(model.input, model.get_layer(preset.frozen_through).output)

    def computed(files, split, copies):
        images = train_input.read_once(
            files, fn_args.data_accessor, tf_transform_output, activation_cache.FORWARD_BATCH
        )
        return activation_cache.compute(frozen, images, report.images(split), copies)

    train = computed(fn_args.train_files, "train", activation_cache.TRAINING_COPIES)
    val = computed(fn_args.eval_files, "eval", 1)
    return CachedActivations(model, preset, train, val, batch_size, seed)


def ood_layer(model: keras.Model, preset: models.Preset) -> str:
    """The layer whose features components/ood.py fits: a pretrained preset's frozen part, else what the sigmoid
    unit reads."""
    return preset.frozen_through or models.features_layer(model)


def split_outputs(
    model: keras.Model, layer: str, inputs: PhaseInputs, split: str, fn_args, tf_transform_output, probabilities: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(pooled features of layer, labels, the probability output if asked) of the "train" or "eval" split's images
    as they are (no augmentation), in the order train_input reads them: from the cached activations when they are
    the layer's, else one pass over the images."""
    if isinstance(inputs, CachedActivations) and layer == inputs.preset.frozen_through:
        activations, labels = inputs.train if split == "train" else inputs.val
        as_they_are = activations[:, :1]
        top = models.chain(model, layer)
        probability = activation_cache.apply(top, as_they_are, np.float32).ravel() if probabilities else None
        return ood.pooled(as_they_are[:, 0]), labels.ravel(), probability
    probe = keras.Model(model.inputs, [model.get_layer(layer).output, model.output])
    files = fn_args.train_files if split == "train" else fn_args.eval_files
    batches = [
        (ood.pooled(features.numpy()), labels.numpy(), probability.numpy())
        for images, labels in train_input.read_once(
            files, fn_args.data_accessor, tf_transform_output, activation_cache.FORWARD_BATCH
        )
        for features, probability in [probe(images, training=False)]
    ]
    features, labels, probability = (np.concatenate(column) for column in zip(*batches))
    return features.astype(np.float32), labels.ravel(), probability.ravel() if probabilities else None


def write_validation_scores(
    path: str, file_names: list[str], class_names: list[str], probabilities, ood_fit: ood.OodFit, features
) -> None:
    """The trained model's score of every validation image, as `catdog score` writes new images' (components/
    scores.py): the report's per-image figures, without scoring the split again."""
    ood_scores = ood.scores(ood_fit, features)
    with tf.io.gfile.GFile(path, "w") as f:
        for name, probability, ood_score in zip(file_names, probabilities, ood_scores, strict=True):
            class_name = class_names[int(probability >= contract.SECOND_CLASS_FROM)]
            row = scores.scored_row(name, class_name, probability, ood_score <= ood_fit.threshold, ood_score)
            f.write(scores.to_line(row) + "\n")


def run_fn(fn_args) -> None:
    keras_autograph.leave_keras_unconverted()  # fit's first epoch and the export trace Keras' functions
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
    image_shape = tf_transform_output.transformed_feature_spec()[contract.IMAGE_KEY].shape
    train_examples = report.images("train")
    steps_per_epoch = math.ceil(train_examples / batch_size)
    model_run_dir = placement.output_dir(fn_args.model_run_dir)  # the chief's: TFX's; other workers': their own

    with strategy.scope():
        model = preset.build(image_shape, weights)
    cache_plan = activation_plan(model, preset, config, report)
    # Cached activations are each worker's whole data: across several workers the images are sharded instead.
    if cache_plan and cache_plan.fits and placement.workers == 1:
        with strategy.scope():
            # Only the flip can be cached; the model is built without the augmentation layers that would not act.
            model = preset.build(image_shape, weights, augment=False)
            inputs = cached_activations(model, preset, fn_args, tf_transform_output, report, batch_size, config.seed)
        input_record = {
            "path": activation_cache.ACTIVATIONS,
            **dataclasses.asdict(cache_plan),
            "reason": cache_plan.reason(),
        }
    else:
        plan = input_plan(config.train_cache_memory_share, fn_args.train_files, tf_transform_output)
        train = placement.shard(
            train_input.make_dataset(
                fn_args.train_files, fn_args.data_accessor, tf_transform_output, batch_size, plan, config.seed
            )
        )
        val = placement.shard(
            train_input.make_dataset(fn_args.eval_files, fn_args.data_accessor, tf_transform_output, batch_size, plan)
        )
        inputs = images_in_every_phase(model, train, val)
        input_record = {**dataclasses.asdict(plan), "reason": plan.reason()}
        if cache_plan:
            input_record["activations"] = {**dataclasses.asdict(cache_plan), "reason": cache_plan.reason()}
    tf.io.gfile.makedirs(model_run_dir)

    with strategy.scope():
        tensorboard = keras.callbacks.TensorBoard(log_dir=os.path.join(model_run_dir, "logs"))
        steps = distribution.StepCounter()
        record = fit(
            model, preset, config, inputs, steps_per_epoch, [tensorboard, steps], strategy.num_replicas_in_sync
        )
    # After the last phase: its trainable parameters are the ones that were trained last (fine-tuning's).
    summary: list[str] = []
    model.summary(print_fn=summary.append)
    logging.info("\n".join(summary))
    _write_text(os.path.join(model_run_dir, SUMMARY_FILE), "\n".join(summary) + "\n")
    layer = ood_layer(model, preset)
    train_features, train_labels, _ = split_outputs(model, layer, inputs, "train", fn_args, tf_transform_output, False)
    ood_fit = ood.fit(layer, train_features, train_labels, len(class_names), config.seed)
    val_features, _, val_probabilities = split_outputs(model, layer, inputs, "eval", fn_args, tf_transform_output, True)
    write_validation_scores(
        os.path.join(model_run_dir, VALIDATION_SCORES_FILE),
        train_input.file_names(fn_args.eval_files, fn_args.data_accessor, tf_transform_output),
        class_names,
        val_probabilities,
        ood_fit,
        val_features,
    )
    record["class_names"] = class_names
    record["input"] = input_record
    record["distribution"] = {
        **placement.record(config.batch_size, train_examples, steps_per_epoch, steps),
        "last_phase_learning_rate": record.pop("last_phase_learning_rate"),
    }
    record["ood"] = ood_fit.summary(ood.scores(ood_fit, train_features))
    logging.info("Out-of-distribution threshold: %s", record["ood"])
    _write_text(os.path.join(model_run_dir, HISTORY_FILE), json.dumps(record, indent=2))
    exporter.export(
        float32_copy(model, config.model_preset, image_shape),
        tf_transform_output,
        class_names,
        placement.output_dir(fn_args.serving_model_dir),
        ood_fit,
    )
    placement.finish(fn_args.model_run_dir, fn_args.serving_model_dir)
