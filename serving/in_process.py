"""The exported model called in this process, with the same inputs, checks and answers as PredictClient."""

from collections.abc import Sequence

import tensorflow as tf

from components import contract
from serving.client.image_inputs import check_signature, predictions, signature_inputs
from serving.server.model_registry import resolve_model_dir
from serving.server.servable import Servable


class InProcessPredictor:
    """InProcessPredictor(model_dir).predict([jpeg_bytes]) -> [{"class_name": ..., "probability": ...}].

    model_dir is a version folder or a base path of numbered versions (the newest is used)."""

    def __init__(self, model_dir: str, signature_name: str = contract.IMAGE_BYTES_SIGNATURE):
        check_signature(signature_name)  # before the slow load
        self.signature_name = signature_name
        self._servable = Servable(resolve_model_dir(model_dir))

    def predict(self, images: Sequence[bytes]) -> list[dict]:
        inputs = {
            key: tf.constant(values, dtype=tf.string)
            for key, values in signature_inputs(self.signature_name, images).items()
        }
        return predictions(self._servable.run(self.signature_name, inputs))
