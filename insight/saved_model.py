"""Finds and loads an exported model: its Keras layers and the serving signatures in one object."""

import os
from typing import Sequence

import tensorflow as tf
import tf_keras as keras

from components import exporter
from insight.errors import InsightError

_SAVED_MODEL_FILE = "saved_model.pb"
_KERAS_METADATA_FILE = "keras_metadata.pb"  # only Keras' own save writes it: without it there are no layers


def resolve(path: str) -> str:
    """A SavedModel folder itself, or the newest numbered version inside a serving folder."""
    if os.path.isfile(os.path.join(path, _SAVED_MODEL_FILE)):
        return path
    if not os.path.isdir(path):
        raise InsightError(f"{path}: no such model folder")
    versions = [
        name for name in os.listdir(path)
        if name.isdigit() and os.path.isfile(os.path.join(path, name, _SAVED_MODEL_FILE))
    ]
    if not versions:
        raise InsightError(f"{path}: no {_SAVED_MODEL_FILE} and no numbered model versions inside")
    return os.path.join(path, max(versions, key=int))


def load(path: str) -> keras.Model:
    """The exported Keras model; its .signatures are the serving ones (exporter's names)."""
    path = resolve(path)
    if not os.path.isfile(os.path.join(path, _KERAS_METADATA_FILE)):
        raise InsightError(f"{path}: not saved by Keras ({_KERAS_METADATA_FILE} missing), so it has no layers to show")
    model = keras.models.load_model(path, compile=False)
    needed = (exporter.IMAGE_BYTES_SIGNATURE, exporter.TF_EXAMPLE_SIGNATURE, exporter.TRANSFORM_SIGNATURE)
    missing = [name for name in needed if name not in model.signatures]
    if missing:
        raise InsightError(f"{path}: the model has no {', '.join(missing)} signature (exported by an older version?)")
    return model


def model_input(model: keras.Model, images: Sequence[bytes]) -> tf.Tensor:
    """Encoded images to the exact tensor the model was trained on, by the graph saved with it."""
    transform = model.signatures[exporter.TRANSFORM_SIGNATURE]
    return transform(**{exporter.IMAGE_BYTES_INPUT: tf.constant(list(images))})[exporter.TRANSFORMED_IMAGE_OUTPUT]
