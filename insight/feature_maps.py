"""Intermediate representations: what each convolution and max-pooling layer makes of one image, channel by channel."""

import math
import os

import numpy as np
import tensorflow as tf
import tf_keras as keras

from insight import figures

MAX_CHANNELS = 64  # beyond this the cells get too small to read; the first ones are shown
COLUMNS = 16
CELL_INCHES = 0.8
GAP_SHARE = 0.03  # of a cell, between neighbouring channels
TITLE_INCHES = 0.4
_LAYER_TYPES = (keras.layers.Conv2D, keras.layers.SeparableConv2D, keras.layers.MaxPooling2D)


def representation_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """Every convolution and max-pooling layer, as the tutorial shows them. A Keras application backbone
    (its blocks end in ReLU layers) has dozens: its story is told by the activation that ends each
    resolution, where one stage hands over to the next (MobileNet: 5 of its 27 activations)."""
    relus = [layer for layer in model.layers if isinstance(layer, keras.layers.ReLU)]
    if relus:
        return [
            layer
            for layer, after in zip(relus, relus[1:] + [None])
            if after is None or after.output_shape[1:3] != layer.output_shape[1:3]
        ]
    return [layer for layer in model.layers if isinstance(layer, _LAYER_TYPES)]


def activations(model: keras.Model, image: tf.Tensor) -> list[tuple[str, np.ndarray]]:
    """(layer name, [height, width, channels]) for each conv/pool layer; image is one model input [1, H, W, 3]."""
    layers = representation_layers(model)
    if not layers:
        raise ValueError(f"model {model.name!r} has no convolution or max-pooling layer")
    probe = keras.Model(model.inputs, [layer.output for layer in layers])
    # training=False: a model called without it runs its random augmentation layers (their call default).
    outputs = probe(image, training=False)
    outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    return [(layer.name, output[0].numpy()) for layer, output in zip(layers, outputs)]


def _for_display(channel: np.ndarray) -> np.ndarray:
    """Standardized per channel as the tutorial does, so weak and strong channels are both visible."""
    centered = channel - channel.mean()
    std = channel.std()
    return np.clip(centered / std * 64 + 128 if std > 0 else centered + 128, 0, 255)


def _mosaic(maps: np.ndarray, shown: int, columns: int, cell_px: int, gap_px: int) -> np.ndarray:
    """The first shown channels for display, columns to a row, each scaled (nearest) to a cell_px square less a
    gap_px margin; the margins and empty cells blank (NaN: not drawn)."""
    rows = math.ceil(shown / columns)
    mosaic = np.full((rows * cell_px, min(shown, columns) * cell_px), np.nan, np.float32)
    side = cell_px - gap_px
    ys = np.arange(side) * maps.shape[0] // side
    xs = np.arange(side) * maps.shape[1] // side
    for c in range(shown):
        row, column = divmod(c, columns)
        top, left = row * cell_px + gap_px // 2, column * cell_px + gap_px // 2
        mosaic[top : top + side, left : left + side] = _for_display(maps[..., c])[np.ix_(ys, xs)]
    return mosaic


def save_panel(index: int, name: str, maps: np.ndarray, out_dir: str) -> str:
    """One PNG: a grid of the layer's channels, drawn as one image (an axes a channel took seconds a panel)."""
    channels = maps.shape[-1]
    shown = min(channels, MAX_CHANNELS)
    of = f"first {shown} of {channels}" if shown < channels else f"{channels}"
    title = f"{index}. {name}: {maps.shape[0]}x{maps.shape[1]}, {of} channels"
    width, height = figures.grid_inches(shown, COLUMNS, (CELL_INCHES, CELL_INCHES), TITLE_INCHES)
    figure = figures.new_figure(width, height)
    figure.suptitle(title, y=1 - 0.5 * TITLE_INCHES / height, va="center")
    axes = figure.add_axes([0, 0, 1, 1 - TITLE_INCHES / height])
    axes.axis("off")
    cell_px = round(CELL_INCHES * figures.DPI)
    mosaic = _mosaic(maps, shown, COLUMNS, cell_px, max(2, round(GAP_SHARE * cell_px)))
    axes.imshow(mosaic, cmap="viridis", vmin=0, vmax=255, interpolation="nearest", aspect="auto")
    return figures.save_png(figure, os.path.join(out_dir, f"{index:02d}_{name}.png"))


def save_feature_maps(model: keras.Model, image: tf.Tensor, out_dir: str) -> list[str]:
    """One PNG per conv/pool layer, in model order, named <NN>_<layer>.png."""
    return [save_panel(i, name, maps, out_dir) for i, (name, maps) in enumerate(activations(model, image), start=1)]
