"""Transform's module: encoded image bytes to a fixed-size float image in [0, 1].

The same graph runs in the Trainer's input pipeline and inside the exported model,
so training and serving decode and resize identically.
"""

from typing import Any

import tensorflow as tf

from components import contract, limits

IMAGE_SIZE_KEY = "image_size"  # custom_config key: the side of the square model input
_HEADER_BYTES = 32  # enough for every format's width and height fields


def _unsigned(head: tf.Tensor, offset: int, size: int, big_endian: bool) -> tf.Tensor:
    """An unsigned integer of size bytes at offset in the header's bytes (int64)."""
    places = range(size) if big_endian else reversed(range(size))
    value = tf.constant(0, tf.int64)
    for i in places:
        value = value * 256 + head[offset + i]
    return value


def _gif_frames(data: tf.Tensor, head: tf.Tensor, screen_pixels: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """(frames, pixels) a GIF's decoder expands (int64), counted by walking its blocks: giflib's DGifSlurp
    expands every frame, at the size its own descriptor says, even when only the first is kept, so 50 frames
    of 7000x7000 in 1.8 MB cost 2.5 GB. Each frame costs at least the screen, which the output takes.
    Stops once over the pixel limit, so a bomb costs few steps."""
    length = tf.strings.length(data)

    def bytes_at(position, count):  # int32 values; zeros past the end
        chunk = tf.strings.substr(tf.strings.join([tf.strings.substr(data, position, count), b"\0" * count]), 0, count)
        return tf.cast(tf.io.decode_raw(chunk, tf.uint8), tf.int32)

    def color_table_bytes(flags):  # 3 * 2^(size+1) when the table flag (0x80) is set
        size = tf.bitwise.left_shift(3, tf.bitwise.bitwise_and(flags, 7) + 1)
        return tf.where(tf.bitwise.bitwise_and(flags, 0x80) > 0, size, 0)

    def more(position, in_sub_blocks, frames, pixels, done):
        return tf.logical_and(
            tf.logical_and(tf.logical_not(done), position < length), pixels <= limits.MAX_IMAGE_PIXELS
        )

    def step(position, in_sub_blocks, frames, pixels, done):
        block = bytes_at(position, 10)
        # In data sub-blocks: a length byte, that many bytes, until a zero length.
        after_sub_block = position + 1 + block[0]
        # Between blocks: an image (0x2C: 10-byte descriptor, color table, LZW code size) or an extension (0x21).
        is_image, is_extension = tf.equal(block[0], 0x2C), tf.equal(block[0], 0x21)
        after_start = tf.where(is_image, position + 11 + color_table_bytes(block[9]), position + 2)
        new_frame = tf.logical_and(tf.logical_not(in_sub_blocks), is_image)
        frame = tf.cast(block, tf.int64)  # 65535 x 65535 overflows int32
        frame_pixels = (frame[5] + 256 * frame[6]) * (frame[7] + 256 * frame[8])
        return (
            tf.where(in_sub_blocks, after_sub_block, after_start),
            tf.where(in_sub_blocks, block[0] > 0, tf.logical_or(is_image, is_extension)),
            frames + tf.cast(new_frame, tf.int64),
            pixels + tf.where(new_frame, tf.maximum(frame_pixels, screen_pixels), 0),
            tf.logical_and(tf.logical_not(in_sub_blocks), tf.logical_not(tf.logical_or(is_image, is_extension))),
        )

    start = 13 + color_table_bytes(tf.cast(head[10], tf.int32))  # header, logical screen, global color table
    zero = tf.constant(0, tf.int64)
    _, _, frames, pixels, _ = tf.while_loop(more, step, (start, tf.constant(False), zero, zero, tf.constant(False)))
    return tf.maximum(frames, 1), tf.maximum(pixels, screen_pixels)


def header_size(data: tf.Tensor) -> tf.Tensor:
    """[width, height, frames, pixels to decode] (int64) read from an encoded image without decoding it: the
    magic bytes are the ones tf.io.decode_image goes by; frames is 1 and pixels width x height but for GIFs.
    [0, 0, 1, 0] for other bytes: the decoder then says what is wrong."""
    head = tf.strings.substr(
        tf.strings.join([tf.strings.substr(data, 0, _HEADER_BYTES), b"\0" * _HEADER_BYTES]), 0, _HEADER_BYTES
    )
    head = tf.cast(tf.io.decode_raw(head, tf.uint8), tf.int64)

    def still(width, height):
        return tf.stack([width, height, 1, width * height])

    def starts_with(magic: bytes):
        return tf.equal(tf.strings.substr(data, 0, len(magic)), magic)

    def jpeg():  # libjpeg reads the frame header; the same error as decoding if it is broken
        height, width = tf.unstack(tf.image.extract_jpeg_shape(data, output_type=tf.int64)[:2])
        return still(width, height)

    def png():  # IHDR: big-endian width and height after the signature and the chunk's length and type
        return still(_unsigned(head, 16, 4, True), _unsigned(head, 20, 4, True))

    def gif():  # the logical screen, which the decoder allocates for every frame
        width, height = _unsigned(head, 6, 2, False), _unsigned(head, 8, 2, False)
        return tf.stack([width, height, *_gif_frames(data, head, width * height)])

    def bmp():  # signed 32-bit little-endian; a negative height means rows stored top-down
        width, height = _unsigned(head, 18, 4, False), _unsigned(head, 22, 4, False)
        return still(*[tf.abs(tf.where(v >= 2**31, v - 2**32, v)) for v in (width, height)])

    def unknown():
        return tf.constant([0, 0, 1, 0], tf.int64)

    return tf.case(
        [
            (starts_with(b"\xff\xd8\xff"), jpeg),
            (starts_with(b"\x89PNG\r\n\x1a\n"), png),
            (starts_with(b"GIF8"), gif),
            (starts_with(b"BM"), bmp),
        ],
        default=unknown,
        exclusive=True,
    )


# Filled by str.format in Python and tf.strings.format in the graph: one wording everywhere.
OVER_PIXEL_LIMIT = "image is {}x{} pixels, more than the {} allowed; not decoded"
OVER_PIXEL_LIMIT_FRAMES = (
    "GIF of {}x{} pixels whose frames (at least {}) expand to {} pixels, more than the {} allowed; not decoded"
)


# A graph: eagerly, a GIF's block walk would run op by op from Python.
_header_size_graph = tf.function(header_size, input_signature=[tf.TensorSpec([], tf.string)])


def pixel_limit_problem(data: bytes) -> str:
    """Why these image bytes are refused before decoding, or "" if their header says they fit."""
    width, height, frames, pixels = (int(v) for v in _header_size_graph(tf.constant(data)).numpy())
    if pixels <= limits.MAX_IMAGE_PIXELS:
        return ""
    if pixels > width * height:
        return OVER_PIXEL_LIMIT_FRAMES.format(width, height, frames, pixels, limits.MAX_IMAGE_PIXELS)
    return OVER_PIXEL_LIMIT.format(width, height, limits.MAX_IMAGE_PIXELS)


def decode_and_resize(image_bytes: tf.Tensor, size: int) -> tf.Tensor:
    """Decodes a batch of JPEG/PNG/GIF/BMP strings of any size to float32 [batch, size, size, 3] in [0, 1].
    An image whose header says it is over limits.MAX_IMAGE_PIXELS fails the batch (InvalidArgumentError)
    before anything is decoded."""

    def one(data):
        width, height, frames, pixels = tf.unstack(header_size(data))
        message = tf.where(
            pixels > width * height,
            tf.strings.format(OVER_PIXEL_LIMIT_FRAMES, (width, height, frames, pixels, limits.MAX_IMAGE_PIXELS)),
            tf.strings.format(OVER_PIXEL_LIMIT, (width, height, limits.MAX_IMAGE_PIXELS)),
        )
        fits = tf.debugging.Assert(pixels <= limits.MAX_IMAGE_PIXELS, [message])
        with tf.control_dependencies([fits]):
            # expand_animations=False gives GIFs their first frame as a 3-D image, like the others.
            image = tf.io.decode_image(data, channels=3, expand_animations=False)
        image.set_shape([None, None, 3])
        # antialias matters: most photos are scaled down by 2-4x.
        return tf.image.resize(image, [size, size], antialias=True)

    images = tf.map_fn(one, image_bytes, fn_output_signature=tf.TensorSpec([size, size, 3], tf.float32))
    return tf.clip_by_value(images / 255.0, 0.0, 1.0)


def preprocessing_fn(inputs: dict[str, tf.Tensor], custom_config: dict[str, Any] | None = None):
    size = int((custom_config or {}).get(IMAGE_SIZE_KEY, contract.DEFAULT_IMAGE_SIZE))
    return {
        contract.IMAGE_KEY: decode_and_resize(tf.reshape(inputs[contract.IMAGE_RAW_KEY], [-1]), size),
        contract.LABEL_KEY: inputs[contract.LABEL_KEY],
    }
