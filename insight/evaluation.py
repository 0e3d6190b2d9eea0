"""The report's evaluation section: the validation tf.Examples ImageExampleGen wrote, the exported model's
score for each (what TFMA evaluated, per image), their confusion matrix and the hardest images."""

import dataclasses
import glob
import itertools
import os
from collections.abc import Iterable, Iterator, Sequence

import numpy as np
import tensorflow as tf
import tf_keras as keras
from tqdm import tqdm

from components import contract
from insight import figures, image_grid
from insight.errors import InsightError
from insight.images import decode_rgb
from insight.predictions import caption as prediction_caption

PREDICT_BATCH_SIZE = 32
CONFUSION_WIDTH_INCHES, CONFUSION_HEIGHT_INCHES = 5.5, 4.5
HARDEST_COUNT = 12
HARDEST_COLUMNS = 6
OOD_WIDTH_INCHES, OOD_HEIGHT_INCHES = 7.0, 3.5
OOD_BINS = 50


@dataclasses.dataclass(frozen=True)
class ImageExample:
    serialized: bytes  # the record as written, what the serving_tf_example signature takes
    image_raw: bytes
    label: int
    filename: str


def split_files(examples_uri: str, split: str) -> list[str]:
    """The gzip TFRecords under <Examples artifact>/Split-<split>/."""
    pattern = os.path.join(examples_uri, f"Split-{split}", "*")
    files = sorted(glob.glob(pattern))
    if not files:
        raise InsightError(f"{pattern}: no TFRecord files for split {split!r}")
    return files


def read_examples(examples_uri: str, split: str) -> Iterator[ImageExample]:
    for record in tf.data.TFRecordDataset(split_files(examples_uri, split), compression_type="GZIP"):
        serialized = record.numpy()
        feature = tf.train.Example.FromString(serialized).features.feature
        yield ImageExample(
            serialized=serialized,
            image_raw=feature[contract.IMAGE_RAW_KEY].bytes_list.value[0],
            label=int(feature[contract.LABEL_KEY].int64_list.value[0]),
            filename=feature[contract.FILENAME_KEY].bytes_list.value[0].decode(),
        )


@dataclasses.dataclass(frozen=True)
class Prediction:
    example: ImageExample
    probability: float  # of the second class
    class_id: int
    ood_score: float | None = None  # components/ood.py (models exported without it: None)
    in_distribution: bool | None = None

    @property
    def error(self) -> float:
        """How far the score is from the true label: above 0.5 means misclassified."""
        return abs(self.example.label - self.probability)


def predict(model: keras.Model, examples: Iterable[ImageExample]) -> list[Prediction]:
    """Scores with the serving_tf_example signature, the one TFMA evaluated."""
    signature = model.signatures[contract.TF_EXAMPLE_SIGNATURE]
    predictions: list[Prediction] = []
    examples = iter(examples)
    # disable=None: a bar on terminals only, not in logs.
    with tqdm(desc="Scoring validation images", unit="image", disable=None) as bar:
        while batch := list(itertools.islice(examples, PREDICT_BATCH_SIZE)):
            outputs = signature(**{contract.TF_EXAMPLE_INPUT: tf.constant([e.serialized for e in batch])})
            probabilities = outputs[contract.PROBABILITY_OUTPUT].numpy()
            class_ids = outputs[contract.CLASS_ID_OUTPUT].numpy()
            scores = outputs[contract.OOD_SCORE_OUTPUT].numpy() if contract.OOD_SCORE_OUTPUT in outputs else None
            flags = outputs[contract.IN_DISTRIBUTION_OUTPUT].numpy() if scores is not None else None
            predictions.extend(
                Prediction(e, float(p), int(c), *((float(scores[i]), bool(flags[i])) if scores is not None else ()))
                for i, (e, p, c) in enumerate(zip(batch, probabilities, class_ids))
            )
            bar.update(len(batch))
    return predictions


def confusion_matrix(predictions: Sequence[Prediction], class_count: int) -> np.ndarray:
    """[true class, predicted class] -> number of images."""
    matrix = np.zeros((class_count, class_count), dtype=int)
    for p in predictions:
        matrix[p.example.label, p.class_id] += 1
    return matrix


def save_confusion_matrix(matrix: np.ndarray, class_names: Sequence[str], path: str) -> str:
    figure = figures.new_figure(CONFUSION_WIDTH_INCHES, CONFUSION_HEIGHT_INCHES)
    axes = figure.add_subplot()
    image = axes.imshow(matrix, cmap="Blues", vmin=0)
    figure.colorbar(image, ax=axes)
    ticks = range(len(class_names))
    axes.set_xticks(ticks, class_names)
    axes.set_yticks(ticks, class_names)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    axes.set_title(f"Confusion matrix ({matrix.sum()} validation images)")
    threshold = matrix.max() / 2
    for (row, column), count in np.ndenumerate(matrix):
        # White on dark cells, black on light ones.
        axes.text(column, row, str(count), ha="center", va="center", color="white" if count > threshold else "black")
    figure.tight_layout()
    return figures.save_png(figure, path)


def hardest(predictions: Sequence[Prediction], count: int = HARDEST_COUNT) -> list[Prediction]:
    """The images the model got most wrong: misclassified ones first."""
    return sorted(predictions, key=lambda p: p.error, reverse=True)[:count]


def save_hardest_grid(predictions: Sequence[Prediction], class_names: Sequence[str], path: str) -> str:
    tiles = []
    for p in hardest(predictions):
        wrong = p.class_id != p.example.label
        caption = (
            f"{os.path.basename(p.example.filename)}, true {class_names[p.example.label]}\n"
            f"predicted {prediction_caption(class_names[p.class_id], p.class_id, p.probability)}"
        )
        tiles.append(
            image_grid.Tile(decode_rgb(p.example.image_raw, p.example.filename), caption, "red" if wrong else "green")
        )
    title = "Hardest validation images (red: misclassified, green: right)"
    return image_grid.save_grid(tiles, path, title, columns=HARDEST_COLUMNS)


def save_ood_histogram(predictions: Sequence[Prediction], threshold: float, path: str) -> str:
    """The validation images' out-of-distribution scores, and the threshold above which an image is "neither"."""
    scores = [p.ood_score for p in predictions]
    figure = figures.new_figure(OOD_WIDTH_INCHES, OOD_HEIGHT_INCHES)
    axes = figure.add_subplot()
    axes.hist(scores, bins=OOD_BINS, color="tab:blue")
    axes.axvline(threshold, color="tab:red", linestyle="--", label=f"threshold {threshold:.1f}")
    flagged = sum(not p.in_distribution for p in predictions)
    axes.set_title(f"Out-of-distribution score, {len(scores)} validation images ({flagged} above the threshold)")
    axes.set_xlabel("ood_score (Mahalanobis distance to the nearest class)")
    axes.set_ylabel("images")
    axes.legend()
    figure.tight_layout()
    return figures.save_png(figure, path)
