"""Scores examples with the exported model's serving_tf_example signature: what TFMA evaluated, per image."""

import dataclasses
import itertools
from typing import Iterable, List

import tensorflow as tf
import tf_keras as keras
from tqdm import tqdm

from components import exporter
from insight.examples_reader import ImageExample

BATCH_SIZE = 32


@dataclasses.dataclass(frozen=True)
class Prediction:
    example: ImageExample
    probability: float  # of the second class
    class_id: int

    @property
    def error(self) -> float:
        """How far the score is from the true label: above 0.5 means misclassified."""
        return abs(self.example.label - self.probability)


def predict(model: keras.Model, examples: Iterable[ImageExample]) -> List[Prediction]:
    signature = model.signatures[exporter.TF_EXAMPLE_SIGNATURE]
    predictions: List[Prediction] = []
    examples = iter(examples)
    # disable=None: a bar on terminals only, not in logs.
    with tqdm(desc="Scoring validation images", unit="image", disable=None) as bar:
        while batch := list(itertools.islice(examples, BATCH_SIZE)):
            outputs = signature(**{exporter.TF_EXAMPLE_INPUT: tf.constant([e.serialized for e in batch])})
            probabilities = outputs[exporter.PROBABILITY_OUTPUT].numpy()
            class_ids = outputs[exporter.CLASS_ID_OUTPUT].numpy()
            predictions.extend(Prediction(e, float(p), int(c)) for e, p, c in zip(batch, probabilities, class_ids))
            bar.update(len(batch))
    return predictions
