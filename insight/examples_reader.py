"""Reads the tf.Examples ImageExampleGen wrote: gzip TFRecords under <Examples artifact>/Split-<split>/."""

import dataclasses
import glob
import os
from typing import Iterator, List

import tensorflow as tf

from components import features
from insight.errors import InsightError


@dataclasses.dataclass(frozen=True)
class ImageExample:
    serialized: bytes  # the record as written, what the serving_tf_example signature takes
    image_raw: bytes
    label: int
    filename: str


def split_files(examples_uri: str, split: str) -> List[str]:
    pattern = os.path.join(examples_uri, f"Split-{split}", "*")
    files = sorted(glob.glob(pattern))
    if not files:
        raise InsightError(f"{pattern}: no TFRecord files for split {split!r}")
    return files


def read_examples(examples_uri: str, split: str) -> Iterator[ImageExample]:
    for record in tf.data.TFRecordDataset(split_files(examples_uri, split), compression_type="GZIP"):
        serialized = record.numpy()
        feature = tf.train.Example.FromString(serialized).features.feature
        yield ImageExample(
            serialized=serialized,
            image_raw=feature[features.IMAGE_RAW_KEY].bytes_list.value[0],
            label=int(feature[features.LABEL_KEY].int64_list.value[0]),
            filename=feature[features.FILENAME_KEY].bytes_list.value[0].decode(),
        )
