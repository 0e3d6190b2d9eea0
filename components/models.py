"""Model presets: each is a function that builds an uncompiled Keras 2 model from the input shape."""

from typing import Callable, Dict, Sequence

import tf_keras as keras

from components import features


def _probability(x):
    # float32 output even under mixed precision, so the sigmoid and the loss stay stable.
    return keras.layers.Dense(1, activation="sigmoid", dtype="float32", name="probability")(x)


def _classifier_head(x, dropout: float = 0.0):
    x = keras.layers.Flatten()(x)
    if dropout:
        x = keras.layers.Dropout(dropout)(x)
    x = keras.layers.Dense(512, activation="relu")(x)
    return _probability(x)


def tutorial(input_shape: Sequence[int]) -> keras.Model:
    """The tutorial's CNN: four Conv2D/MaxPooling2D blocks, Dense(512), a sigmoid unit."""
    inputs = keras.Input(shape=input_shape, name=features.IMAGE_KEY)
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


def augmented(input_shape: Sequence[int]) -> keras.Model:
    """The tutorial's blocks with augmentation, batch normalization and dropout: the usual cures for a
    small dataset's overfitting."""
    inputs = keras.Input(shape=input_shape, name=features.IMAGE_KEY)
    x = _augmentation(inputs)
    for filters in (64, 64, 128, 128):
        x = keras.layers.Conv2D(filters, 3, use_bias=False)(x)
        x = keras.layers.BatchNormalization()(x)
        x = keras.layers.Activation("relu")(x)
        x = keras.layers.MaxPooling2D(2)(x)
    return keras.Model(inputs, _classifier_head(x, dropout=0.5), name="augmented")


def residual(input_shape: Sequence[int]) -> keras.Model:
    """A small Xception-style network: augmentation, then residual blocks of depthwise-separable
    convolutions with batch normalization, global average pooling and dropout. Separable convolutions
    cost about what the tutorial's blocks cost, and the residual links let it be twice as deep."""
    inputs = keras.Input(shape=input_shape, name=features.IMAGE_KEY)
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


PRESETS: Dict[str, Callable[[Sequence[int]], keras.Model]] = {
    "tutorial": tutorial,
    "augmented": augmented,
    "residual": residual,
}


def build(preset: str, input_shape: Sequence[int]) -> keras.Model:
    if preset not in PRESETS:
        raise ValueError(f"unknown model preset {preset!r}; choose from {', '.join(sorted(PRESETS))}")
    return PRESETS[preset](input_shape)
