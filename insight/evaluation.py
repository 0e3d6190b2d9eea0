"""The report's evaluation section: the validation tf.Examples ImageExampleGen wrote, the trained model's score
for each (the Trainer's validation scores: the weights TFMA evaluated), their confusion matrix and the hardest
images."""

import dataclasses
import glob
import json
import os
from collections.abc import Iterable, Iterator, Sequence

import numpy as np
import tensorflow as tf

from components import contract, files
from insight import figures, image_grid
from insight.errors import InsightError
from insight.images import decode_rgb
from insight.predictions import caption as prediction_caption

CONFUSION_WIDTH_INCHES, CONFUSION_HEIGHT_INCHES = 5.5, 4.5
HARDEST_COUNT = 12
HARDEST_COLUMNS = 6
OOD_WIDTH_INCHES, OOD_HEIGHT_INCHES = 7.0, 3.5
OOD_BINS = 50


@dataclasses.dataclass(frozen=True)
class ImageExample:
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
        feature = tf.train.Example.FromString(record.numpy()).features.feature
        yield ImageExample(
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


def scored(scores_path: str, examples: Iterable[ImageExample], class_names: Sequence[str]) -> list[Prediction]:
    """The examples with their scores, joined by file name: scores_path holds components/scores.py's JSON lines
    (the Trainer's validation scores), one for each example."""
    try:
        rows = {row["file"]: row for row in map(json.loads, files.read_text(scores_path).splitlines())}
    except files.FileRefused as e:
        raise InsightError(f"{e} (the Trainer writes it; a run of an older version has none)") from e
    predictions = []
    for e in examples:
        row = rows.pop(e.filename, None)
        if row is None:
            raise InsightError(f"{scores_path}: no score for the validation image {e.filename}")
        predictions.append(
            Prediction(
                e,
                row[contract.PROBABILITY_OUTPUT],
                class_names.index(row[contract.CLASS_NAME_OUTPUT]),
                row.get(contract.OOD_SCORE_OUTPUT),
                row.get(contract.IN_DISTRIBUTION_OUTPUT),
            )
        )
    if rows:
        raise InsightError(f"{scores_path}: {len(rows)} scores of images the validation split does not hold")
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
