"""The exported model's signatures: the one place that decides what serving accepts and returns."""

from typing import Sequence

import tensorflow as tf
import tensorflow_transform as tft
import tf_keras as keras

from components import contract, warmup_requests


def export(
    model: keras.Model, tf_transform_output: tft.TFTransformOutput, class_names: Sequence[str], export_dir: str
) -> None:
    """Saves the model with the Transform graph inside, so serving decodes and resizes as training did."""
    model.tft_layer = tf_transform_output.transform_features_layer()
    raw_image_spec = {contract.IMAGE_RAW_KEY: tf_transform_output.raw_feature_spec()[contract.IMAGE_RAW_KEY]}
    names = tf.constant(list(class_names))

    def transform(image_bytes):
        # The raw feature is [batch, 1]; the tft layer computes only the outputs its inputs allow (no label).
        return model.tft_layer({contract.IMAGE_RAW_KEY: tf.reshape(image_bytes, [-1, 1])})[contract.IMAGE_KEY]

    def score(images):
        probability = tf.reshape(model(images, training=False), [-1])  # augmentation layers off
        return {contract.PROBABILITY_OUTPUT: probability, contract.CLASS_ID_OUTPUT: tf.cast(probability >= 0.5, tf.int64)}

    def predict(images):
        scores = score(images)
        return {**scores, contract.CLASS_NAME_OUTPUT: tf.gather(names, scores[contract.CLASS_ID_OUTPUT])}

    def transform_examples(examples):
        return transform(tf.io.parse_example(examples, raw_image_spec)[contract.IMAGE_RAW_KEY])

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name=contract.IMAGE_BYTES_INPUT)])
    def serve_image_bytes(image_bytes):
        return predict(transform(image_bytes))

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name=contract.TF_EXAMPLE_INPUT)])
    def serve_tf_examples(examples):
        return predict(transform_examples(examples))

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name=contract.TF_EXAMPLE_INPUT)])
    def score_tf_examples(examples):
        return score(transform_examples(examples))

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name=contract.IMAGE_BYTES_INPUT)])
    def transform_image_bytes(image_bytes):
        return {contract.TRANSFORMED_IMAGE_OUTPUT: transform(image_bytes)}

    # Keras' save (SavedModel format) keeps the layers loadable by tf_keras.models.load_model,
    # which feature-map and Grad-CAM tools need; the signatures are plain TF for serving.
    model.save(
        export_dir,
        save_format="tf",
        signatures={
            contract.IMAGE_BYTES_SIGNATURE: serve_image_bytes,
            contract.TF_EXAMPLE_SIGNATURE: serve_tf_examples,
            contract.SCORE_TF_EXAMPLE_SIGNATURE: score_tf_examples,
            contract.TRANSFORM_SIGNATURE: transform_image_bytes,
        },
    )
    image_height, image_width, _ = tf_transform_output.transformed_feature_spec()[contract.IMAGE_KEY].shape
    warmup_requests.write_warmup_requests(export_dir, (image_height, image_width))
