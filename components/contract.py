"""The contract between ingestion, training, the exported model, serving, its clients and the reports:
feature keys, signature names with their inputs and outputs, the class names, the tf.Example layout and
the ingest report. No TensorFlow at import (the command line and the REST client import it); the
tf.Example builder imports TensorFlow's protos when first called."""

import dataclasses
import json
from typing import Any

# The served model's name in requests (model_spec.name, REST URLs) and its folder under serving/.
MODEL_NAME = "catdog"

# tf.Example features written by the ExampleGen.
IMAGE_RAW_KEY = "image_raw"  # encoded image bytes, as found in the data
LABEL_KEY = "label"  # int64 index into the sorted class names
FILENAME_KEY = "filename"  # path of the image inside the data

# Transformed feature: the model's input.
IMAGE_KEY = "image"  # float32 [height, width, 3] in [0, 1]
DEFAULT_IMAGE_SIZE = 150  # the tutorial's side of the square input, in pixels (`--image-size`)

# TF Serving's warmup records, replayed on each version before it is AVAILABLE (PredictionLog records).
WARMUP_DIR = "assets.extra"
WARMUP_FILE = "tf_serving_warmup_requests"

# The ExampleGen writes this beside the Split-* folders of its Examples artifact.
INGEST_REPORT_FILE = "ingest_report.json"

# serving_default takes what clients have: encoded image files.
IMAGE_BYTES_SIGNATURE = "serving_default"
IMAGE_BYTES_INPUT = "image_bytes"
# For TFMA: serialized tf.Examples as ExampleGen wrote them.
TF_EXAMPLE_SIGNATURE = "serving_tf_example"
TF_EXAMPLE_INPUT = "examples"
# For BulkInferrer: serialized tf.Examples in, numbers only out (probability and class_id). tfx_bsl's
# RunInference splits each output per example as a numpy value and cannot split a string tensor (class_name).
SCORE_TF_EXAMPLE_SIGNATURE = "score_tf_example"
# Encoded bytes to the model's input tensor, for tools that look inside the model (feature maps).
TRANSFORM_SIGNATURE = "transform_image_bytes"
TRANSFORMED_IMAGE_OUTPUT = "image"
# TF Serving's Classify API (gRPC Classify, REST :classify): serialized tf.Examples in, both class names and
# their probabilities out, keyed as tf.saved_model.classification_signature_def keys them (its
# CLASSIFY_INPUTS, CLASSIFY_OUTPUT_CLASSES, CLASSIFY_OUTPUT_SCORES). TF Serving refuses a classification
# signature with other than one or two outputs ("Expected one or two output Tensors").
CLASSIFICATION_SIGNATURE = "classification"
CLASSIFY_INPUT = "inputs"
CLASSES_OUTPUT = "classes"
SCORES_OUTPUT = "scores"

PROBABILITY_OUTPUT = "probability"  # probability of the second class name (dogs, by default)
CLASS_ID_OUTPUT = "class_id"  # the index of the predicted class in the sorted class names
SECOND_CLASS_FROM = 0.5  # class_id is 1 where probability is at least this

CLASS_NAME_OUTPUT = "class_name"
# components/ood.py: the image's distance to the training images' features, and whether it is within the threshold
# that holds 99% of them (False: neither class, whatever class_name says). On every classifying signature.
OOD_SCORE_OUTPUT = "ood_score"
IN_DISTRIBUTION_OUTPUT = "in_distribution"

# The signatures that classify images, and the one input each takes.
SIGNATURE_INPUTS = {IMAGE_BYTES_SIGNATURE: IMAGE_BYTES_INPUT, TF_EXAMPLE_SIGNATURE: TF_EXAMPLE_INPUT}


def warmup_path(model_dir: str) -> str:
    return f"{model_dir.rstrip('/')}/{WARMUP_DIR}/{WARMUP_FILE}"


def tf_example(image: bytes, label: int | None = None, filename: str = "") -> bytes:
    """A serialized tf.Example as the ExampleGen writes it: the encoded image, its file name when known,
    and its label (an index into the sorted class names) unless it is an image to score."""
    from components import protos

    example_pb2, feature_pb2 = protos.example_protos()  # TensorFlow's protos, not its runtime
    feature = {IMAGE_RAW_KEY: feature_pb2.Feature(bytes_list=feature_pb2.BytesList(value=[image]))}
    if filename:
        feature[FILENAME_KEY] = feature_pb2.Feature(bytes_list=feature_pb2.BytesList(value=[filename.encode()]))
    if label is not None:
        feature[LABEL_KEY] = feature_pb2.Feature(int64_list=feature_pb2.Int64List(value=[label]))
    return example_pb2.Example(features=feature_pb2.Features(feature=feature)).SerializeToString()


@dataclasses.dataclass(frozen=True)
class Skipped:
    file: str
    reason: str


@dataclasses.dataclass(frozen=True)
class IngestReport:
    """What ingestion found (ingest_report.json): the class names (sorted: a label is an index into them),
    images per split and class, the files skipped with their reasons, and the duplicates."""

    data_uri: str
    class_names: list[str]
    split_by_hash: bool
    counts: dict[str, dict[str, int]]  # split -> class (or "(unlabelled)") -> images kept
    skipped: list[Skipped]
    duplicates: dict[str, Any]  # components/ingest/duplicates.py: counts and groups

    def images(self, split: str) -> int:
        return sum(self.counts[split].values())

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str, where: str = "ingest report") -> "IngestReport":
        """ValueError naming `where` when the text is not an ingest report."""
        try:
            value = json.loads(text)
            value["skipped"] = [Skipped(**s) for s in value["skipped"]]
            return cls(**value)
        except (ValueError, TypeError, KeyError) as e:
            raise ValueError(f"{where}: not an ingest report ({type(e).__name__}: {e})") from e

    @classmethod
    def read(cls, examples_uri: str) -> "IngestReport":
        """The report of an Examples artifact (a local path or an object-store URI)."""
        import tensorflow as tf

        path = f"{examples_uri.rstrip('/')}/{INGEST_REPORT_FILE}"
        with tf.io.gfile.GFile(path) as f:
            return cls.from_json(f.read(), path)
