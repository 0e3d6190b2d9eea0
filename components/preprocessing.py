"""Transform's module: encoded image bytes to a fixed-size float image in [0, 1].

The same graph runs in the Trainer's input pipeline and inside the exported model,
so training and serving decode and resize identically.
"""

from typing import Any, Dict, Optional

import tensorflow as tf

from components import features
from pipeline.settings import RunSettings

IMAGE_SIZE_KEY = "image_size"  # custom_config key: the side of the square model input


def decode_and_resize(image_bytes: tf.Tensor, size: int) -> tf.Tensor:
    """Decodes a batch of JPEG/PNG/GIF/BMP strings of any size to float32 [batch, size, size, 3] in [0, 1]."""

    def one(data):
        # expand_animations=False gives GIFs their first frame as a 3-D image, like the others.
        image = tf.io.decode_image(data, channels=3, expand_animations=False)
        image.set_shape([None, None, 3])
        # antialias matters: most photos are scaled down by 2-4x.
        return tf.image.resize(image, [size, size], antialias=True)

    images = tf.map_fn(one, image_bytes, fn_output_signature=tf.TensorSpec([size, size, 3], tf.float32))
    return tf.clip_by_value(images / 255.0, 0.0, 1.0)


def preprocessing_fn(inputs: Dict[str, tf.Tensor], custom_config: Optional[Dict[str, Any]] = None):
    size = int((custom_config or {}).get(IMAGE_SIZE_KEY, RunSettings.image_size))
    return {
        features.IMAGE_KEY: decode_and_resize(tf.reshape(inputs[features.IMAGE_RAW_KEY], [-1]), size),
        features.LABEL_KEY: inputs[features.LABEL_KEY],
    }
