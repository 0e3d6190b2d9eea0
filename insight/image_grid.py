"""A grid of captioned images in one PNG: data samples, the hardest validation images."""

import dataclasses
from collections.abc import Sequence

import numpy as np

from insight import figures

TILE_INCHES = 2.0
CELL = (TILE_INCHES, TILE_INCHES + 0.5)  # room for two lines of small text above each image
TITLE_INCHES = 0.5


@dataclasses.dataclass(frozen=True)
class Tile:
    image: np.ndarray  # uint8 [height, width, 3]
    caption: str
    caption_color: str = "black"


def pixel_size(count: int, columns: int) -> tuple[int, int]:
    """(width, height) of the PNG save_grid writes for count tiles."""
    return figures.pixel_size(*figures.grid_inches(count, columns, CELL, TITLE_INCHES))


def save_grid(tiles: Sequence[Tile], path: str, title: str, columns: int = 6) -> str:
    if not tiles:
        raise ValueError("save_grid needs at least one tile")
    figure, axes = figures.titled_grid(title, len(tiles), columns, CELL, TILE_INCHES, TITLE_INCHES)
    for a, tile in zip(axes, tiles):
        a.imshow(tile.image)
        a.set_title(tile.caption, fontsize=7, color=tile.caption_color)
    return figures.save_png(figure, path)
