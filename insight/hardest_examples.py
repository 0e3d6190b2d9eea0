"""The validation images the model got most wrong, with their scores: misclassified ones first."""

import os
from typing import List, Sequence

from insight import image_grid
from insight.images import decode_rgb
from insight.predictions import Prediction

COUNT = 12
COLUMNS = 6


def hardest(predictions: Sequence[Prediction], count: int = COUNT) -> List[Prediction]:
    return sorted(predictions, key=lambda p: p.error, reverse=True)[:count]


def save_hardest_grid(predictions: Sequence[Prediction], class_names: Sequence[str], path: str) -> str:
    tiles = []
    for p in hardest(predictions):
        wrong = p.class_id != p.example.label
        caption = (
            f"{os.path.basename(p.example.filename)}\n"
            f"true {class_names[p.example.label]}, P({class_names[1]})={p.probability:.3f}"
        )
        tiles.append(
            image_grid.Tile(decode_rgb(p.example.image_raw, p.example.filename), caption, "red" if wrong else "green")
        )
    title = "Hardest validation images (red: misclassified, green: right)"
    return image_grid.save_grid(tiles, path, title, columns=COLUMNS)
