"""One image through the model: its feature maps layer by layer and a Grad-CAM heat map of the predicted class."""

import dataclasses
import os
from typing import List

import tensorflow as tf
import tf_keras as keras

from components import contract
from insight import feature_maps, gradcam, saved_model
from insight.errors import InsightError
from insight.images import decode_rgb

FEATURE_MAPS_DIR = "feature_maps"
GRADCAM_FILE = "gradcam.png"


@dataclasses.dataclass
class Visualization:
    class_name: str
    probability: float  # of the second class, as serving returns it
    feature_maps: List[str]  # one PNG per convolution or max-pooling layer
    gradcam_png: str  # the photo's size, heat map of the predicted class over it


def visualize(model: keras.Model, image: bytes, source: str, out_dir: str) -> Visualization:
    photo = decode_rgb(image, source)
    try:
        model_input = saved_model.model_input(model, [image])
    except tf.errors.OpError as e:
        raise InsightError(f"{source}: the model cannot decode it (JPEG, PNG, GIF or BMP only): {e.message}") from e
    served = model.signatures[contract.IMAGE_BYTES_SIGNATURE](**{contract.IMAGE_BYTES_INPUT: tf.constant([image])})
    class_id = int(served[contract.CLASS_ID_OUTPUT][0])
    maps = feature_maps.save_feature_maps(model, model_input, os.path.join(out_dir, FEATURE_MAPS_DIR))
    cam = gradcam.class_activation_map(model, model_input, class_id)
    gradcam_png = os.path.join(out_dir, GRADCAM_FILE)
    gradcam.overlay(photo, cam).save(gradcam_png, format="PNG")  # out_dir exists: it holds the feature maps
    return Visualization(
        class_name=served[contract.CLASS_NAME_OUTPUT][0].numpy().decode(),
        probability=float(served[contract.PROBABILITY_OUTPUT][0]),
        feature_maps=maps,
        gradcam_png=gradcam_png,
    )
