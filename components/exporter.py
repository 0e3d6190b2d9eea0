"""The exported model's signatures: the one place that decides what serving accepts and returns."""

from collections.abc import Sequence

import tensorflow as tf
import tensorflow_transform as tft
import tf_keras as keras

from components import contract, ood, warmup_requests


def ood_scores(ood_fit: ood.OodFit, pooled: tf.Tensor) -> tf.Tensor:
    """ood.scores in the graph: the distance to the nearest class mean under the shared precision."""
    means = tf.constant(ood_fit.means, tf.float32)
    precision = tf.constant(ood_fit.precision, tf.float32)
    centered = pooled[:, None, :] - means[None, :, :]  # [batch, classes, features]
    squared = tf.einsum("bcd,de,bce->bc", centered, precision, centered)
    return tf.sqrt(tf.maximum(tf.reduce_min(squared, axis=1), 0.0))


def export(
    model: keras.Model,
    tf_transform_output: tft.TFTransformOutput,
    class_names: Sequence[str],
    export_dir: str,
    ood_fit: ood.OodFit,
) -> None:
    """Saves the model with the Transform graph inside, so serving decodes and resizes as training did, and
    the out-of-distribution fit, so every prediction also says whether the image is like the training images."""
    model.tft_layer = tf_transform_output.transform_features_layer()
    # The same layers, also giving the layer's output ood_fit was fitted on.
    with_features = keras.Model(model.inputs, [model.output, model.get_layer(ood_fit.layer).output])
    raw_image_spec = {contract.IMAGE_RAW_KEY: tf_transform_output.raw_feature_spec()[contract.IMAGE_RAW_KEY]}
    names = tf.constant(list(class_names))

    def transform(image_bytes):
        # The raw feature is [batch, 1]; the tft layer computes only the outputs its inputs allow (no label).
        return model.tft_layer({contract.IMAGE_RAW_KEY: tf.reshape(image_bytes, [-1, 1])})[contract.IMAGE_KEY]

    def score(images):
        probability, features_out = with_features(images, training=False)  # augmentation layers off
        probability = tf.reshape(probability, [-1])
        pooled = tf.reduce_mean(features_out, axis=list(range(1, features_out.shape.rank - 1)))  # ood.pooled
        ood_score = ood_scores(ood_fit, tf.cast(pooled, tf.float32))
        return {
            contract.PROBABILITY_OUTPUT: probability,
            contract.CLASS_ID_OUTPUT: tf.cast(probability >= contract.SECOND_CLASS_FROM, tf.int64),
            contract.OOD_SCORE_OUTPUT: ood_score,
            contract.IN_DISTRIBUTION_OUTPUT: ood_score <= ood_fit.threshold,
        }

    def predict(images):
        scores = score(images)
        return {**scores, contract.CLASS_NAME_OUTPUT: tf.gather(names, scores[contract.CLASS_ID_OUTPUT])}

    def transform_examples(examples):
        return transform(tf.io.parse_example(examples, raw_image_spec)[contract.IMAGE_RAW_KEY])

    # Any shape: TF Serving feeds a request's tensor as it comes (a scalar from resnet_client_grpc.py's
    # tf.make_tensor_proto(bytes), an [N, 1] column from REST), and every string is one image. Declared [None],
    # graph optimization would drop the flattening reshape as a no-op and the scalar would fail inside.
    @tf.function(input_signature=[tf.TensorSpec(None, tf.string, name=contract.IMAGE_BYTES_INPUT)])
    def serve_image_bytes(image_bytes):
        return predict(transform(tf.reshape(image_bytes, [-1])))

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name=contract.TF_EXAMPLE_INPUT)])
    def serve_tf_examples(examples):
        return predict(transform_examples(examples))

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name=contract.TF_EXAMPLE_INPUT)])
    def score_tf_examples(examples):
        return score(transform_examples(examples))

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name=contract.IMAGE_BYTES_INPUT)])
    def transform_image_bytes(image_bytes):
        return {contract.TRANSFORMED_IMAGE_OUTPUT: transform(image_bytes)}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name=contract.CLASSIFY_INPUT)])
    def classify_tf_examples(inputs):
        probability = score(transform_examples(inputs))[contract.PROBABILITY_OUTPUT]
        return {
            contract.CLASSES_OUTPUT: tf.tile(names[tf.newaxis, :], [tf.size(probability), 1]),
            contract.SCORES_OUTPUT: tf.stack([1 - probability, probability], axis=1),  # in class-name order
        }

    # Keras' save (SavedModel format) keeps the layers loadable by tf_keras.models.load_model,
    # which feature-map and Grad-CAM tools need; the signatures are plain TF for serving. Without traces: every
    # preset is Keras' own layers, which load_model rebuilds from their configs, and tracing each layer's call
    # was three quarters of the export's time (about 30 of 40 CPU-s for the default).
    model.save(
        export_dir,
        save_format="tf",
        save_traces=False,
        signatures={
            contract.IMAGE_BYTES_SIGNATURE: serve_image_bytes,
            contract.TF_EXAMPLE_SIGNATURE: serve_tf_examples,
            contract.SCORE_TF_EXAMPLE_SIGNATURE: score_tf_examples,
            contract.TRANSFORM_SIGNATURE: transform_image_bytes,
            contract.CLASSIFICATION_SIGNATURE: classify_tf_examples,
        },
    )
    image_height, image_width, _ = tf_transform_output.transformed_feature_spec()[contract.IMAGE_KEY].shape
    warmup_requests.write_warmup_requests(export_dir, (image_height, image_width))
