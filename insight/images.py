"""Encoded image files to RGB arrays for drawing."""

import io

import numpy as np
from PIL import Image

from components import limits
from insight.errors import InsightError

# PIL's own bomb check (an error at twice this) on the pipeline's limit, rather than its default of 89 M.
Image.MAX_IMAGE_PIXELS = limits.MAX_IMAGE_PIXELS


def decode_rgb(data: bytes, source: str) -> np.ndarray:
    """uint8 [height, width, 3]; GIFs give their first frame, as in training. source names the file in errors.
    Image.open reads the header only: the size is checked against the pipeline's limit before decoding."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            if width * height > limits.MAX_IMAGE_PIXELS:
                raise InsightError(
                    f"{source}: image is {width}x{height} pixels, more than the "
                    f"{limits.MAX_IMAGE_PIXELS} allowed; not decoded"
                )
            return np.asarray(image.convert("RGB"))
    except Image.UnidentifiedImageError as e:
        raise InsightError(f"{source}: not an image file (no known image format)") from e
    except Image.DecompressionBombError as e:  # PIL refused it on opening: too big even to check here
        raise InsightError(
            f"{source}: image over the {limits.MAX_IMAGE_PIXELS} pixels allowed; not decoded ({e})"
        ) from e
    except (OSError, ValueError) as e:
        raise InsightError(f"{source}: not a decodable image ({e})") from e
