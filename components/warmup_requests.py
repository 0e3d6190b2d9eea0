"""The exported model's warmup requests: assets.extra/tf_serving_warmup_requests, a TFRecord file of
PredictionLog records that TF Serving replays on each version before it marks it AVAILABLE, so the
first real requests do not pay for graph tracing and kernel set-up (`catdog serve` replays them too).

The requests carry real encoded images (JPEG and PNG, several sizes, a batch of three), built here, so
export needs no data; each classifying signature is warmed."""

import os
from typing import Dict, List

import numpy as np
import tensorflow as tf
from google.protobuf import message
from tensorflow_serving.apis import predict_pb2, prediction_log_pb2

from components import exporter, features

WARMUP_DIR = "assets.extra"
WARMUP_FILE = "tf_serving_warmup_requests"
# (height, width, format): the model's input size, a larger photo-like one, a small PNG.
WARMUP_IMAGES = ((150, 150, "jpeg"), (375, 500, "jpeg"), (48, 64, "png"))


def warmup_path(model_dir: str) -> str:
    return os.path.join(model_dir, WARMUP_DIR, WARMUP_FILE)


def image_example(image: bytes) -> bytes:
    """A serialized tf.Example holding an encoded image, as ExampleGen writes it."""
    feature = tf.train.Feature(bytes_list=tf.train.BytesList(value=[image]))
    return tf.train.Example(features=tf.train.Features(feature={features.IMAGE_RAW_KEY: feature})).SerializeToString()


def warmup_images() -> List[bytes]:
    """Smooth colour gradients with a little seeded noise, encoded: decodable like any photo."""
    rng = np.random.default_rng(0)
    images = []
    for height, width, fmt in WARMUP_IMAGES:
        y, x = np.mgrid[0:height, 0:width]
        pixels = np.stack([255 * x / width, 255 * y / height, 128 + 0 * x], axis=-1)
        pixels = np.clip(pixels + rng.normal(0, 12, pixels.shape), 0, 255).astype(np.uint8)
        encode = tf.io.encode_jpeg if fmt == "jpeg" else tf.io.encode_png
        images.append(encode(pixels).numpy())
    return images


def warmup_requests() -> List[prediction_log_pb2.PredictionLog]:
    """Per classifying signature: one request per image, then one with all of them as a batch."""
    images = warmup_images()
    inputs: Dict[str, tuple] = {
        exporter.IMAGE_BYTES_SIGNATURE: (exporter.IMAGE_BYTES_INPUT, images),
        exporter.TF_EXAMPLE_SIGNATURE: (exporter.TF_EXAMPLE_INPUT, [image_example(image) for image in images]),
    }
    logs = []
    for signature, (input_name, values) in inputs.items():
        for batch in [[value] for value in values] + [values]:
            request = predict_pb2.PredictRequest()
            request.model_spec.signature_name = signature
            request.inputs[input_name].CopyFrom(tf.make_tensor_proto(batch, dtype=tf.string))
            logs.append(prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=request)))
    return logs


def write_warmup_requests(export_dir: str) -> None:
    path = warmup_path(export_dir)
    tf.io.gfile.makedirs(os.path.dirname(path))
    with tf.io.TFRecordWriter(path) as writer:
        for log in warmup_requests():
            writer.write(log.SerializeToString())


def read_warmup_requests(model_dir: str) -> List[prediction_log_pb2.PredictionLog]:
    """The model's warmup records, none if it has no warmup file; ValueError if the file is damaged."""
    path = warmup_path(model_dir)
    if not tf.io.gfile.exists(path):
        return []
    try:
        return [prediction_log_pb2.PredictionLog.FromString(record.numpy())
                for record in tf.data.TFRecordDataset(path)]
    except (tf.errors.OpError, message.DecodeError) as e:  # truncated record, bad checksum, not a PredictionLog
        raise ValueError(f"{path}: not a file of PredictionLog records: {e}") from e
