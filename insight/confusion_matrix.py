"""The confusion matrix of the validation predictions: counts of true class against predicted class."""

from typing import Sequence

import numpy as np

from insight import figures
from insight.predictions import Prediction

WIDTH_INCHES, HEIGHT_INCHES = 5.5, 4.5


def confusion_matrix(predictions: Sequence[Prediction], class_count: int) -> np.ndarray:
    """[true class, predicted class] -> number of images."""
    matrix = np.zeros((class_count, class_count), dtype=int)
    for p in predictions:
        matrix[p.example.label, p.class_id] += 1
    return matrix


def save_confusion_matrix(matrix: np.ndarray, class_names: Sequence[str], path: str) -> str:
    figure = figures.new_figure(WIDTH_INCHES, HEIGHT_INCHES)
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
