"""Transform's module: encoded image bytes to a fixed-size float image in [0, 1].

The same graph runs in the Trainer's input pipeline and inside the exported model,
so training and serving decode and resize identically.
"""

from typing import Any, Dict, Optional

import tensorflow as tf

from components import features, limits

IMAGE_SIZE_KEY = "image_size"  # custom_config key: the side of the square model input
DEFAULT_IMAGE_SIZE = 150
_HEADER_BYTES = 32  # enough for every format's width and height fields


def _unsigned(head: tf.Tensor, offset: int, size: int, big_endian: bool) -> tf.Tensor:
    """An unsigned integer of size bytes at offset in the header's bytes (int64)."""
    places = range(size) if big_endian else reversed(range(size))
    value = tf.constant(0, tf.int64)
    for i in places:
        value = value * 256 + head[offset + i]
    return value


def header_size(data: tf.Tensor) -> tf.Tensor:
    """[width, height] (int64) read from an encoded image's header, without decoding it: the magic bytes
    are the ones tf.io.decode_image goes by. [0, 0] for other bytes; the decoder then says what is wrong."""
    head = tf.strings.substr(tf.strings.join([tf.strings.substr(data, 0, _HEADER_BYTES), b"\0" * _HEADER_BYTES]),
                             0, _HEADER_BYTES)
    head = tf.cast(tf.io.decode_raw(head, tf.uint8), tf.int64)

    def starts_with(magic: bytes):
        return tf.equal(tf.strings.substr(data, 0, len(magic)), magic)

    def jpeg():  # libjpeg reads the frame header; the same error as decoding if it is broken
        height_width = tf.image.extract_jpeg_shape(data, output_type=tf.int64)[:2]
        return tf.reverse(height_width, [0])

    def png():  # IHDR: big-endian width and height after the signature and the chunk's length and type
        return tf.stack([_unsigned(head, 16, 4, True), _unsigned(head, 20, 4, True)])

    def gif():  # the logical screen, which the decoder allocates per frame
        return tf.stack([_unsigned(head, 6, 2, False), _unsigned(head, 8, 2, False)])

    def bmp():  # signed 32-bit little-endian; a negative height means rows stored top-down
        width, height = _unsigned(head, 18, 4, False), _unsigned(head, 22, 4, False)
        signed = [tf.where(v >= 2**31, v - 2**32, v) for v in (width, height)]
        return tf.abs(tf.stack(signed))

    def unknown():
        return tf.zeros([2], tf.int64)

    return tf.case(
        [(starts_with(b"\xff\xd8\xff"), jpeg), (starts_with(b"\x89PNG\r\n\x1a\n"), png),
         (starts_with(b"GIF8"), gif), (starts_with(b"BM"), bmp)],
        default=unknown, exclusive=True,
    )


# Filled by str.format in Python and tf.strings.format in the graph: one wording everywhere.
OVER_PIXEL_LIMIT = "image is {}x{} pixels, more than the {} allowed; not decoded"


def pixel_limit_problem(data: bytes) -> str:
    """Why these image bytes are refused before decoding, or "" if their header says they fit."""
    width, height = (int(v) for v in header_size(tf.constant(data)).numpy())
    return OVER_PIXEL_LIMIT.format(width, height, limits.MAX_IMAGE_PIXELS) if width * height > limits.MAX_IMAGE_PIXELS else ""


def decode_and_resize(image_bytes: tf.Tensor, size: int) -> tf.Tensor:
    """Decodes a batch of JPEG/PNG/GIF/BMP strings of any size to float32 [batch, size, size, 3] in [0, 1].
    An image whose header says it is over limits.MAX_IMAGE_PIXELS fails the batch (InvalidArgumentError)
    before anything is decoded."""

    def one(data):
        width_height = header_size(data)
        fits = tf.debugging.Assert(
            tf.reduce_prod(width_height) <= limits.MAX_IMAGE_PIXELS,
            [tf.strings.format(OVER_PIXEL_LIMIT, (width_height[0], width_height[1], limits.MAX_IMAGE_PIXELS))],
        )
        with tf.control_dependencies([fits]):
            # expand_animations=False gives GIFs their first frame as a 3-D image, like the others.
            image = tf.io.decode_image(data, channels=3, expand_animations=False)
        image.set_shape([None, None, 3])
        # antialias matters: most photos are scaled down by 2-4x.
        return tf.image.resize(image, [size, size], antialias=True)

    images = tf.map_fn(one, image_bytes, fn_output_signature=tf.TensorSpec([size, size, 3], tf.float32))
    return tf.clip_by_value(images / 255.0, 0.0, 1.0)


def preprocessing_fn(inputs: Dict[str, tf.Tensor], custom_config: Optional[Dict[str, Any]] = None):
    size = int((custom_config or {}).get(IMAGE_SIZE_KEY, DEFAULT_IMAGE_SIZE))
    return {
        features.IMAGE_KEY: decode_and_resize(tf.reshape(inputs[features.IMAGE_RAW_KEY], [-1]), size),
        features.LABEL_KEY: inputs[features.LABEL_KEY],
    }
