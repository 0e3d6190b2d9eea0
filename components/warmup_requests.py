"""The exported model's warmup requests: assets.extra/tf_serving_warmup_requests, a TFRecord file of
PredictionLog records that TF Serving replays on each version before it marks it AVAILABLE, so the
first real requests do not pay for graph tracing and kernel set-up (`catdog serve` replays them too).

The requests carry real encoded images (JPEG and PNG, several sizes, a batch of three), built here, so
export needs no data; each classifying signature is warmed."""

import os

import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2, prediction_log_pb2

from components import contract

# (height, width, format) besides the model's own input size: a larger photo-like one, a small PNG.
OTHER_WARMUP_IMAGES = ((375, 500, "jpeg"), (48, 64, "png"))


def warmup_images(input_size: tuple[int, int]) -> list[bytes]:
    """Smooth colour gradients with a little seeded noise, encoded: decodable like any photo. The first has
    the model's input size (height, width)."""
    rng = np.random.default_rng(0)
    images = []
    for height, width, fmt in ((*input_size, "jpeg"), *OTHER_WARMUP_IMAGES):
        y, x = np.mgrid[0:height, 0:width]
        pixels = np.stack([255 * x / width, 255 * y / height, 128 + 0 * x], axis=-1)
        pixels = np.clip(pixels + rng.normal(0, 12, pixels.shape), 0, 255).astype(np.uint8)
        encode = tf.io.encode_jpeg if fmt == "jpeg" else tf.io.encode_png
        images.append(encode(pixels).numpy())
    return images


def warmup_requests(input_size: tuple[int, int]) -> list[prediction_log_pb2.PredictionLog]:
    """Per classifying signature: one request per image, then one with all of them as a batch."""
    images = warmup_images(input_size)
    inputs: dict[str, tuple] = {
        contract.IMAGE_BYTES_SIGNATURE: (contract.IMAGE_BYTES_INPUT, images),
        contract.TF_EXAMPLE_SIGNATURE: (contract.TF_EXAMPLE_INPUT, [contract.tf_example(image) for image in images]),
    }
    logs = []
    for signature, (input_name, values) in inputs.items():
        for batch in [[value] for value in values] + [values]:
            request = predict_pb2.PredictRequest()
            request.model_spec.signature_name = signature
            request.inputs[input_name].CopyFrom(tf.make_tensor_proto(batch, dtype=tf.string))
            logs.append(prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=request)))
    return logs


def write_warmup_requests(export_dir: str, input_size: tuple[int, int]) -> None:
    path = contract.warmup_path(export_dir)
    tf.io.gfile.makedirs(os.path.dirname(path))
    with tf.io.TFRecordWriter(path) as writer:
        for log in warmup_requests(input_size):
            writer.write(log.SerializeToString())
