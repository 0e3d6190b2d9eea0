"""One image through the model: its feature maps layer by layer and a Grad-CAM heat map of the predicted class."""

import dataclasses
import os

import tensorflow as tf
import tf_keras as keras

from components import contract
from insight import feature_maps, gradcam, saved_model
from insight.errors import InsightError
from insight.images import decode_rgb
from insight.predictions import caption as prediction_caption

FEATURE_MAPS_DIR = "feature_maps"
GRADCAM_FILE = "gradcam.png"


@dataclasses.dataclass
class Visualization:
    class_name: str
    class_id: int
    probability: float  # of the second class, as serving returns it (insight.predictions reads it right)
    feature_maps: list[str]  # one PNG per convolution or max-pooling layer
    gradcam_png: str  # the photo's size, heat map of the predicted class over it


@dataclasses.dataclass
class Explained:
    class_name: str
    class_id: int
    probability: float  # of the second class, as serving returns it (insight.predictions reads it right)
    gradcam_png: str  # the heat map over the photo, titled with the prediction, with its colour bar


def _served(model: keras.Model, image: bytes, source: str):
    """(photo, model input, class name, class id, probability of the second class) of one image file."""
    photo = decode_rgb(image, source)
    try:
        model_input = saved_model.model_input(model, [image])
    except tf.errors.OpError as e:
        raise InsightError(f"{source}: the model cannot decode it (JPEG, PNG, GIF or BMP only): {e.message}") from e
    served = model.signatures[contract.IMAGE_BYTES_SIGNATURE](**{contract.IMAGE_BYTES_INPUT: tf.constant([image])})
    class_name = served[contract.CLASS_NAME_OUTPUT][0].numpy().decode()
    return (
        photo,
        model_input,
        class_name,
        int(served[contract.CLASS_ID_OUTPUT][0]),
        float(served[contract.PROBABILITY_OUTPUT][0]),
    )


def explain(model: keras.Model, image: bytes, source: str, gradcam_png: str) -> Explained:
    """The model's prediction for one image and its Grad-CAM, captioned, in gradcam_png."""
    photo, model_input, class_name, class_id, probability = _served(model, image, source)
    cam = gradcam.class_activation_map(model, model_input, class_id)
    title = f"{os.path.basename(source)}\npredicted {prediction_caption(class_name, class_id, probability)}"
    gradcam.save_captioned(photo, cam, title, class_name, gradcam_png)
    return Explained(class_name, class_id, probability, gradcam_png)


def visualize(model: keras.Model, image: bytes, source: str, out_dir: str) -> Visualization:
    explained = explain(model, image, source, os.path.join(out_dir, GRADCAM_FILE))
    model_input = saved_model.model_input(model, [image])
    maps = feature_maps.save_feature_maps(model, model_input, os.path.join(out_dir, FEATURE_MAPS_DIR))
    return Visualization(
        class_name=explained.class_name,
        class_id=explained.class_id,
        probability=explained.probability,
        feature_maps=maps,
        gradcam_png=explained.gradcam_png,
    )
