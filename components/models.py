"""Model presets: each is a function that builds an uncompiled Keras 2 model from the input shape."""

from typing import Callable, Dict, Sequence

import tf_keras as keras

from components import features


def tutorial(input_shape: Sequence[int]) -> keras.Model:
    """The tutorial's CNN: four Conv2D/MaxPooling2D blocks, Dense(512), a sigmoid unit."""
    inputs = keras.Input(shape=input_shape, name=features.IMAGE_KEY)
    x = inputs
    for filters in (64, 64, 128, 128):
        x = keras.layers.Conv2D(filters, 3, activation="relu")(x)
        x = keras.layers.MaxPooling2D(2)(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(512, activation="relu")(x)
    # float32 output even under mixed precision, so the sigmoid and the loss stay stable.
    outputs = keras.layers.Dense(1, activation="sigmoid", dtype="float32", name="probability")(x)
    return keras.Model(inputs, outputs, name="tutorial")


PRESETS: Dict[str, Callable[[Sequence[int]], keras.Model]] = {"tutorial": tutorial}
DEFAULT_PRESET = "tutorial"


def build(preset: str, input_shape: Sequence[int]) -> keras.Model:
    if preset not in PRESETS:
        raise ValueError(f"unknown model preset {preset!r}; choose from {', '.join(sorted(PRESETS))}")
    return PRESETS[preset](input_shape)
