"""Matplotlib figures drawn off screen (Agg) and saved as PNG at a fixed resolution."""

import math
import os

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

# Figures are built without pyplot: no global state and no display, so reports run in servers and tests.
DPI = 100


def new_figure(width_inches: float, height_inches: float) -> Figure:
    figure = Figure(figsize=(width_inches, height_inches), dpi=DPI)
    FigureCanvasAgg(figure)
    return figure


def pixel_size(width_inches: float, height_inches: float) -> tuple[int, int]:
    """The (width, height) in pixels of a PNG saved from a figure of this size."""
    return round(width_inches * DPI), round(height_inches * DPI)


def grid_inches(count: int, columns: int, cell: tuple[float, float], title_height: float) -> tuple[float, float]:
    rows = math.ceil(count / columns)
    return min(count, columns) * cell[0], title_height + rows * cell[1]


def titled_grid(
    title: str, count: int, columns: int, cell: tuple[float, float], image_height: float, title_height: float
) -> tuple[Figure, list[Axes]]:
    """count axes, columns to a row, under a title band. Each cell is (width, height) inches: the image at its
    bottom (image_height tall), room for a caption above. Placed in inches, so text never moves the layout."""
    width, height = grid_inches(count, columns, cell, title_height)
    figure = new_figure(width, height)
    figure.suptitle(title, y=1 - 0.5 * title_height / height, va="center")
    top = 1 - title_height / height
    gap = 0.03 * cell[0]  # inches between neighbouring images, so their edges stay apart
    axes = []
    for i in range(count):
        row, column = divmod(i, columns)
        left = (column * cell[0] + gap / 2) / width
        bottom = top - (row + 1) * cell[1] / height
        axes.append(figure.add_axes([left, bottom, (cell[0] - gap) / width, image_height / height]))
    for a in axes:
        a.axis("off")
    return figure, axes


def save_png(figure: Figure, path: str) -> str:
    """No bbox_inches='tight': the PNG keeps the figure's size, so callers and tests know it in advance."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    figure.savefig(path, format="png", dpi=DPI)
    return path
