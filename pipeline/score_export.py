"""BulkInferrer's scores of --score-data written as `catdog score` writes its own: one JSON line per file,
{file, class_name, probability, in_distribution, ood_score}, or {file, error} for a file ingestion skipped (it does not decode)."""

import dataclasses
import json
import os
from typing import List

import tensorflow as tf

from components import exporter, features


@dataclasses.dataclass
class Scores:
    path: str  # the JSON lines; "" when BulkInferrer scored nothing (the model was not blessed)
    scored: int
    failed: int

    def describe(self) -> str:
        if not self.path:
            return "No scores of --score-data: the model was not blessed (BulkInferrer scores blessed models only)"
        return (f"Scored {self.scored} images of --score-data, {self.failed} files could not be (their lines give "
                f"the reason): {self.path}")


def _json(path: str):
    with tf.io.gfile.GFile(path) as f:
        return json.load(f)


def _value(example: tf.train.Example, key: str):
    feature = example.features.feature[key]
    return getattr(feature, feature.WhichOneof("kind")).value[0]


def score_rows(scores_uri: str, class_names: List[str]) -> List[dict]:
    """{file, class_name, probability, in_distribution, ood_score} for each example BulkInferrer wrote."""
    files = tf.io.gfile.glob(os.path.join(scores_uri, "Split-*", "*"))
    rows = []
    for record in tf.data.TFRecordDataset(files, compression_type="GZIP"):
        example = tf.train.Example.FromString(record.numpy())
        rows.append({
            "file": _value(example, features.FILENAME_KEY).decode(),
            "class_name": class_names[_value(example, exporter.CLASS_ID_OUTPUT)],
            "probability": _value(example, exporter.PROBABILITY_OUTPUT),
            "in_distribution": bool(_value(example, exporter.IN_DISTRIBUTION_OUTPUT)),
            "ood_score": _value(example, exporter.OOD_SCORE_OUTPUT),
        })
    return rows


def export_scores(training_examples: str, score_examples: str, scores: str, path: str) -> Scores:
    """Writes path from the run's artifacts (RunArtifacts.examples, .score_examples, .scores): class names
    from the training data, skipped files from the score data's ingest report."""
    if not scores:
        if tf.io.gfile.exists(path):  # an earlier run's, which would pass for this one's
            tf.io.gfile.remove(path)
        return Scores("", 0, 0)
    class_names = _json(os.path.join(training_examples, features.LABEL_NAMES_FILE))
    scored = score_rows(scores, class_names)
    skipped = _json(os.path.join(score_examples, features.INGEST_REPORT_FILE))["skipped"]
    failed = [{"file": s["file"], "error": s["reason"]} for s in skipped]
    with tf.io.gfile.GFile(path, "w") as f:
        for row in sorted(scored + failed, key=lambda row: row["file"]):
            f.write(json.dumps(row) + "\n")
    return Scores(path, len(scored), len(failed))
