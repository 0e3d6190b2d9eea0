"""preprocessing_fn: encoded images of any size and format to fixed-size floats in [0, 1]."""

import tempfile

import imagegen
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform.beam as tft_beam
from tensorflow_transform.tf_metadata import dataset_metadata, schema_utils

from components import contract, preprocessing

SIZES = [(37, 50), (150, 150), (400, 300), (1, 1)]


def _batch(formats):
    images = [imagegen.image_bytes(i % 2, SIZES[i % len(SIZES)], fmt, seed=i) for i, fmt in enumerate(formats)]
    return tf.constant([[b] for b in images]), images


@pytest.mark.parametrize("size", [150, 64])
def test_any_format_and_size_becomes_a_square_float_image_in_0_1(size):
    raw, _ = _batch(["jpg", "png", "gif", "bmp", "jpg", "png"])
    out = preprocessing.preprocessing_fn(
        {contract.IMAGE_RAW_KEY: raw, contract.LABEL_KEY: tf.constant([[0], [1]] * 3, tf.int64)},
        {preprocessing.IMAGE_SIZE_KEY: size},
    )
    image = out[contract.IMAGE_KEY].numpy()
    assert image.shape == (6, size, size, 3) and image.dtype == np.float32
    assert image.min() >= 0.0 and image.max() <= 1.0
    assert image.std() > 0.05  # real picture content, not a constant
    assert out[contract.LABEL_KEY].numpy().ravel().tolist() == [0, 1] * 3


def test_colors_survive_decoding():
    # imagegen's class 0 has an orange background (200, 120, 60); PNG is lossless.
    raw = tf.constant([[imagegen.image_bytes(0, (300, 300), "png")]])
    image = preprocessing.decode_and_resize(tf.reshape(raw, [-1]), 32).numpy()[0]
    corner = image[0, 0] * 255
    np.testing.assert_allclose(corner, [200, 120, 60], atol=2)


def test_runs_inside_tf_transform_on_beam():
    raw, _ = _batch(["jpg", "png", "gif"])
    schema = schema_utils.schema_from_feature_spec(
        {
            contract.IMAGE_RAW_KEY: tf.io.FixedLenFeature([1], tf.string),
            contract.LABEL_KEY: tf.io.FixedLenFeature([1], tf.int64),
        }
    )
    rows = [{contract.IMAGE_RAW_KEY: [r[0].numpy()], contract.LABEL_KEY: [i % 2]} for i, r in enumerate(raw)]
    with tft_beam.Context(temp_dir=tempfile.mkdtemp()):
        (transformed, metadata), _ = (
            rows,
            dataset_metadata.DatasetMetadata(schema),
        ) | tft_beam.AnalyzeAndTransformDataset(preprocessing.preprocessing_fn)
    assert len(transformed) == 3
    assert np.asarray(transformed[0][contract.IMAGE_KEY]).size == 150 * 150 * 3
    spec = metadata.schema
    image_feature = next(f for f in spec.feature if f.name == contract.IMAGE_KEY)
    assert [d.size for d in image_feature.shape.dim] == [150, 150, 3]
