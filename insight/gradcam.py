"""Grad-CAM: where in the image the last convolution saw evidence for the predicted class, as a heat map."""

import numpy as np
import tensorflow as tf
import tf_keras as keras
from matplotlib import cm, colormaps, colors
from PIL import Image

from insight import figures

OVERLAY_WEIGHT = 0.45  # of the heat map over the photo
COLORMAP = "jet"
# The captioned figure: the photo in a square panel with its title above, the colour bar beside it.
FIGURE_INCHES = (4.625, 4.25)  # exact in binary: matplotlib truncates inches x dpi to pixels


# A residual network's last block ends in the sum of its convolutions and its shortcut: that sum, not the
# shortcut's 1x1 convolution that comes before it in layer order, is what the classifier sees. A Keras
# application backbone's last block ends in its activation (MobileNet: conv_pw_13_relu), after its convolution.
_MAP_LAYER_TYPES = (keras.layers.Conv2D, keras.layers.SeparableConv2D, keras.layers.Add, keras.layers.ReLU)


def last_conv_layer(model: keras.Model) -> keras.layers.Layer:
    convs = [layer for layer in model.layers if isinstance(layer, _MAP_LAYER_TYPES)]
    if not convs:
        raise ValueError(f"model {model.name!r} has no convolution layer for Grad-CAM")
    return convs[-1]


def _sigmoid_output_layer(model: keras.Model) -> keras.layers.Dense:
    layer = model.get_layer(model.output_names[0])
    if not isinstance(layer, keras.layers.Dense) or layer.activation is not keras.activations.sigmoid:
        raise ValueError(f"model {model.name!r}: Grad-CAM expects a Dense sigmoid output, found {layer.name!r}")
    return layer


def class_activation_map(model: keras.Model, image: tf.Tensor, class_id: int) -> np.ndarray:
    """[height, width] in [0, 1] at the last convolution's resolution; image is one model input [1, H, W, 3]."""
    conv = last_conv_layer(model)
    output = _sigmoid_output_layer(model)
    probe = keras.Model(model.inputs, [conv.output, output.input])
    with tf.GradientTape() as tape:
        conv_maps, features = probe(image, training=False)  # no random augmentation
        # The logit, not the probability: a saturated sigmoid has no gradient left.
        logit = tf.matmul(features, output.kernel) + output.bias
        score = logit[0, 0] if class_id == 1 else -logit[0, 0]
    gradients = tape.gradient(score, conv_maps)
    channel_weights = tf.reduce_mean(gradients, axis=(1, 2), keepdims=True)
    cam = tf.nn.relu(tf.reduce_sum(conv_maps * channel_weights, axis=-1))[0].numpy()
    peak = cam.max()
    return cam / peak if peak > 0 else cam


def overlay(photo: np.ndarray, cam: np.ndarray) -> Image.Image:
    """The heat map stretched over the photo (uint8 [H, W, 3]); the result has the photo's size."""
    height, width = photo.shape[:2]
    resized = Image.fromarray(np.uint8(cam * 255)).resize((width, height), Image.BILINEAR)
    heat = colormaps[COLORMAP](np.asarray(resized) / 255.0)[..., :3] * 255
    blended = (1 - OVERLAY_WEIGHT) * photo + OVERLAY_WEIGHT * heat
    return Image.fromarray(np.uint8(np.clip(blended, 0, 255)))


def save_captioned(photo: np.ndarray, cam: np.ndarray, title: str, class_name: str, path: str) -> str:
    """The overlay under a title (the file, the predicted class and its probability) with a colour bar that says
    what the colours mean; a PNG of FIGURE_INCHES at figures.DPI."""
    figure = figures.new_figure(*FIGURE_INCHES)
    axes = figure.add_axes([0.03, 0.05, 0.72, 0.78])
    axes.imshow(np.asarray(overlay(photo, cam)))
    axes.axis("off")
    figure.suptitle(title, fontsize=9)
    bar = figure.add_axes([0.80, 0.1, 0.04, 0.68])
    colorbar = figure.colorbar(cm.ScalarMappable(colors.Normalize(0, 1), colormaps[COLORMAP]), cax=bar)
    colorbar.set_label(f"evidence for {class_name} (relative to its peak)", fontsize=8)
    colorbar.ax.tick_params(labelsize=7)
    return figures.save_png(figure, path)
