"""Finds and loads an exported model: its Keras layers and the serving signatures in one object."""

import os
from collections.abc import Sequence

import tensorflow as tf
import tf_keras as keras

from components import contract, keras_autograph
from insight.errors import InsightError
from serving.server.model_registry import resolve_model_dir
from serving.status import ServingError

_KERAS_METADATA_FILE = "keras_metadata.pb"  # only Keras' own save writes it: without it there are no layers


def resolve(path: str) -> str:
    """A SavedModel folder itself, or the newest numbered version inside a serving folder."""
    try:
        return resolve_model_dir(path)
    except ServingError as e:
        raise InsightError(e.message) from e


def load(path: str) -> keras.Model:
    """The exported Keras model; its .signatures are the serving ones (exporter's names)."""
    path = resolve(path)
    if not os.path.isfile(os.path.join(path, _KERAS_METADATA_FILE)):
        raise InsightError(f"{path}: not saved by Keras ({_KERAS_METADATA_FILE} missing), so it has no layers to show")
    keras_autograph.leave_keras_unconverted()  # the load rebuilds Keras' layers and traces their calls
    model = keras.models.load_model(path, compile=False)
    needed = (contract.IMAGE_BYTES_SIGNATURE, contract.TF_EXAMPLE_SIGNATURE, contract.TRANSFORM_SIGNATURE)
    missing = [name for name in needed if name not in model.signatures]
    if missing:
        raise InsightError(f"{path}: the model has no {', '.join(missing)} signature (exported by an older version?)")
    return model


def model_input(model: keras.Model, images: Sequence[bytes]) -> tf.Tensor:
    """Encoded images to the exact tensor the model was trained on, by the graph saved with it."""
    transform = model.signatures[contract.TRANSFORM_SIGNATURE]
    return transform(**{contract.IMAGE_BYTES_INPUT: tf.constant(list(images))})[contract.TRANSFORMED_IMAGE_OUTPUT]
