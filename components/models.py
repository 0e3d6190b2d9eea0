"""Model presets: each builds an uncompiled Keras 2 model from the input shape, and carries its training recipe."""

import dataclasses
import os
import socket
import tempfile
from collections.abc import Callable, Sequence

import tensorflow as tf
import tf_keras as keras
from tf_keras.src.applications.mobilenet import BASE_WEIGHT_PATH as _KERAS_MOBILENET_URL

from components import contract, files
from components.errors import CatdogError


class BackboneWeightsError(CatdogError):
    """Pretrained weights are needed and cannot be had; the message says how to provide them."""


@dataclasses.dataclass(frozen=True)
class Recipe:
    """How a preset trains when the command line does not say otherwise (the measured settings, README)."""

    epochs: int
    learning_rate: float = 1e-3
    lr_schedule: str = "cosine"
    # Pretrained presets: a second phase that fine-tunes the backbone's top blocks at a low learning rate.
    fine_tune_epochs: int = 0
    fine_tune_learning_rate: float = 1e-5
    # From-scratch presets keep their best epoch on validation accuracy (they overfit late); pretrained ones
    # train a fixed schedule and keep the last, so the Evaluator's figure is not picked on its own images.
    keep_best_epoch: bool = True


@dataclasses.dataclass(frozen=True)
class Preset:
    build: Callable[..., keras.Model]  # (input_shape, weights_path=None) -> model
    recipe: Recipe
    # Pretrained presets: where Keras downloads their backbone's weights, and what the second phase unfreezes.
    weights_origin: str | None = None
    unfreeze_top: Callable[[keras.Model], None] | None = None
    # Pretrained presets whose layers up to frozen_through stay frozen in every phase (components/activation_cache.py
    # computes them once): head_after is where the first phase's head starts (the layers after it learn).
    frozen_through: str | None = None
    head_after: str | None = None


PROBABILITY_LAYER = "probability"  # every preset's output: one sigmoid unit


def _probability(x):
    # float32 output even under mixed precision, so the sigmoid and the loss stay stable.
    return keras.layers.Dense(1, activation="sigmoid", dtype="float32", name=PROBABILITY_LAYER)(x)


def features_layer(model: keras.Model) -> str:
    """The layer whose output the sigmoid unit reads (the features components/ood.py scores)."""
    return model.get_layer(PROBABILITY_LAYER)._inbound_nodes[0].inbound_layers.name


def features_tensor(model: keras.Model):
    return model.get_layer(features_layer(model)).output


def _classifier_head(x, dropout: float = 0.0):
    x = keras.layers.Flatten()(x)
    if dropout:
        x = keras.layers.Dropout(dropout)(x)
    x = keras.layers.Dense(512, activation="relu")(x)
    return _probability(x)


def tutorial(input_shape: Sequence[int], weights_path: str | None = None) -> keras.Model:
    """The tutorial's CNN: four Conv2D/MaxPooling2D blocks, Dense(512), a sigmoid unit."""
    inputs = keras.Input(shape=input_shape, name=contract.IMAGE_KEY)
    x = inputs
    for filters in (64, 64, 128, 128):
        x = keras.layers.Conv2D(filters, 3, activation="relu")(x)
        x = keras.layers.MaxPooling2D(2)(x)
    return keras.Model(inputs, _classifier_head(x), name="tutorial")


def _augmentation(x):
    """Random flips, rotations, zooms and contrast: Keras makes them act in training only."""
    x = keras.layers.RandomFlip("horizontal")(x)
    x = keras.layers.RandomRotation(0.1)(x)
    x = keras.layers.RandomZoom(0.2)(x)
    return keras.layers.RandomContrast(0.2)(x)


def augmented(input_shape: Sequence[int], weights_path: str | None = None) -> keras.Model:
    """The tutorial's blocks with augmentation, batch normalization and dropout: the usual cures for a
    small dataset's overfitting."""
    inputs = keras.Input(shape=input_shape, name=contract.IMAGE_KEY)
    x = _augmentation(inputs)
    for filters in (64, 64, 128, 128):
        x = keras.layers.Conv2D(filters, 3, use_bias=False)(x)
        x = keras.layers.BatchNormalization()(x)
        x = keras.layers.Activation("relu")(x)
        x = keras.layers.MaxPooling2D(2)(x)
    return keras.Model(inputs, _classifier_head(x, dropout=0.5), name="augmented")


def residual(input_shape: Sequence[int], weights_path: str | None = None) -> keras.Model:
    """A small Xception-style network: augmentation, then residual blocks of depthwise-separable
    convolutions with batch normalization, global average pooling and dropout. Separable convolutions
    cost about what the tutorial's blocks cost, and the residual links let it be twice as deep."""
    inputs = keras.Input(shape=input_shape, name=contract.IMAGE_KEY)
    x = _augmentation(inputs)
    x = keras.layers.Conv2D(32, 5, use_bias=False)(x)
    for filters in (32, 64, 128, 256, 512):
        shortcut = keras.layers.Conv2D(filters, 1, strides=2, padding="same", use_bias=False)(x)
        for _ in range(2):
            x = keras.layers.BatchNormalization()(x)
            x = keras.layers.Activation("relu")(x)
            x = keras.layers.SeparableConv2D(filters, 3, padding="same", use_bias=False)(x)
        x = keras.layers.MaxPooling2D(3, strides=2, padding="same")(x)
        x = keras.layers.add([x, shortcut])
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dropout(0.5)(x)
    return keras.Model(inputs, _probability(x), name="residual")


MOBILENET_WEIGHTS_FILE = "mobilenet_1_0_224_tf_no_top.h5"  # Keras' own name for alpha 1.0, no top
MOBILENET_INPUT_SIZE = 224  # the backbone's input side (bench/backbone_recipe.py measured 150 and 224)
MOBILENET_AUGMENT = True  # bench/backbone_recipe.py measured with and without: steadier in the second phase
MOBILENET_FINE_TUNE_FROM = "conv_dw_12"  # the last two of its 13 blocks, at the 7x7 resolution
MOBILENET_FROZEN_THROUGH = "conv_pw_11_relu"  # the input of the top blocks (before conv_dw_12's padding: 14x14x512)


def mobilenet(
    input_shape: Sequence[int],
    weights_path: str | None = None,
    input_size: int = MOBILENET_INPUT_SIZE,
    augment: bool = MOBILENET_AUGMENT,
    dropout: float = 0.2,
) -> keras.Model:
    """MobileNet v1 (alpha 1.0) with ImageNet weights, frozen, under a small head: global average pooling,
    dropout and the sigmoid unit. The model maps Transform's [0, 1] images to the backbone's [-1, 1] at its
    own input size, so Transform and serving stay the same for every preset.

    The backbone is built into this model's graph (not nested), so feature maps and Grad-CAM reach its
    layers by name like any other preset's.
    """
    inputs = keras.Input(shape=input_shape, name=contract.IMAGE_KEY)
    x = _augmentation(inputs) if augment else inputs
    if tuple(input_shape[:2]) != (input_size, input_size):
        x = keras.layers.Resizing(input_size, input_size, name="backbone_resize")(x)
    x = keras.layers.Rescaling(2.0, offset=-1.0, name="backbone_scale")(x)  # [0, 1] -> [-1, 1]
    backbone = keras.applications.MobileNet(input_tensor=x, include_top=False, weights=weights_path)
    for layer in backbone.layers:
        # Frozen BatchNormalization runs in inference mode: ImageNet's statistics, not a batch's.
        layer.trainable = False
    x = keras.layers.GlobalAveragePooling2D(name="pool")(backbone.output)
    x = keras.layers.Dropout(dropout)(x)
    return keras.Model(inputs, _probability(x), name="mobilenet")


def unfreeze_mobilenet_top(model: keras.Model) -> None:
    """The standard Keras fine-tuning step: the top blocks learn, their BatchNormalization stays in
    inference mode (frozen), so a small batch's statistics cannot wreck the pretrained features."""
    start = model.layers.index(model.get_layer(MOBILENET_FINE_TUNE_FROM))
    for layer in model.layers[start:]:
        if not isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = True


PRESETS: dict[str, Preset] = {
    "tutorial": Preset(tutorial, Recipe(epochs=15, lr_schedule="constant")),
    "augmented": Preset(augmented, Recipe(epochs=60)),
    "residual": Preset(residual, Recipe(epochs=80)),
    "mobilenet": Preset(
        mobilenet,
        # One fine-tuning epoch at 1e-4: 0.982 over five seeds, as two at 1e-5 give, at two thirds of the training's
        # CPU (bench/results/cached_recipe-fine-tune-rate.json beside cached_recipe-5seeds.json).
        Recipe(epochs=5, fine_tune_epochs=1, fine_tune_learning_rate=1e-4, keep_best_epoch=False),
        weights_origin=_KERAS_MOBILENET_URL + MOBILENET_WEIGHTS_FILE,
        unfreeze_top=unfreeze_mobilenet_top,
        frozen_through=MOBILENET_FROZEN_THROUGH,
        head_after="pool",
    ),
}


def chain(model: keras.Model, after: str, through: str | None = None) -> keras.Model:
    """The layers of model after the layer named after, up to the one named through (default: the output), as a
    model of their own that shares their weights: they must form a chain, each layer fed by the one before."""
    start = model.layers.index(model.get_layer(after)) + 1
    end = model.layers.index(model.get_layer(through)) + 1 if through else len(model.layers)
    previous = model.layers[start - 1]
    x = inputs = keras.Input(shape=previous.output.shape[1:], name=after)
    for layer in model.layers[start:end]:
        feeding = [node.inbound_layers for node in layer._inbound_nodes[:1]]  # its node in model's own graph
        if feeding != [previous]:
            raise ValueError(f"{model.name}: {layer.name} is not fed by {previous.name} alone; not a chain")
        x = layer(x)
        previous = layer
    return keras.Model(inputs, x, name=f"{model.name}_after_{after}")


def preset(name: str) -> Preset:
    if name not in PRESETS:
        raise ValueError(f"unknown model preset {name!r}; choose from {', '.join(sorted(PRESETS))}")
    return PRESETS[name]


def build(name: str, input_shape: Sequence[int], weights_path: str | None = None) -> keras.Model:
    """weights_path: the pretrained presets' backbone weights (None: random, as for an export rebuild)."""
    return preset(name).build(input_shape, weights_path)


# A per-read timeout, so an unreachable host fails the run instead of hanging it.
_DOWNLOAD_TIMEOUT_SECONDS = 60


def keras_cache_path(weights_file: str) -> str:
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return os.path.join(home, "models", weights_file)


def resolve_weights(origin: str, source: str = "") -> str:
    """A local path to a backbone's weights.

    source "": what Keras' weights="imagenet" does: the file in Keras' cache ($KERAS_HOME/models, default
    ~/.keras/models), downloaded there from Keras' origin first if missing. Otherwise a local path or an
    object-store URI (copied to a local temporary file: h5py reads local files only).
    """
    if source:
        if not tf.io.gfile.exists(source):
            raise BackboneWeightsError(f"{source}: backbone weights file not found (--backbone-weights)")
        if "://" not in source:
            try:
                files.check_regular(source)  # h5py would block on a FIFO
            except files.FileRefused as e:
                raise BackboneWeightsError(f"{source}: backbone weights file {e.reason} (--backbone-weights)") from e
            return source
        local = os.path.join(tempfile.mkdtemp(prefix="catdog-weights-"), os.path.basename(source))
        tf.io.gfile.copy(source, local)
        return local
    weights_file = os.path.basename(origin)
    cached = keras_cache_path(weights_file)
    if os.path.isfile(cached):
        return cached
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(_DOWNLOAD_TIMEOUT_SECONDS)
    try:
        return keras.utils.get_file(
            weights_file,
            origin,
            cache_subdir="models",
            cache_dir=os.path.dirname(os.path.dirname(cached)),
        )
    except Exception as e:  # noqa: BLE001 - any failure to fetch means the same fix
        raise BackboneWeightsError(
            f"ImageNet weights {weights_file} are not in Keras' cache ({cached}) and could not be downloaded "
            f"({type(e).__name__}: {e}); put the file there, or pass --backbone-weights PATH_OR_URI, "
            f"or choose a from-scratch preset (--model residual)"
        ) from e
    finally:
        socket.setdefaulttimeout(previous)
