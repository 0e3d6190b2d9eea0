"""Scores of new images as JSON lines, one per file: {file, class_name, probability, in_distribution, ood_score}
(the last two from models exported with them: `in_distribution` false is "neither", components/ood.py), or
{file, error} for a file that could not be scored. `catdog score` (scoring/batch.py) and the pipeline's BulkInferrer
(export_scores, after `catdog run --score-data`) both write them through here."""

import dataclasses
import json
import os
from collections.abc import Iterable

from components import contract


def scored_row(file: str, class_name: str, probability: float, in_distribution=None, ood_score=None) -> dict:
    """probability: of the second class name, the exported model's `probability` output; in_distribution and
    ood_score: its outputs of those names, when it has them."""
    row = {"file": file, "class_name": class_name, "probability": float(probability)}
    if ood_score is not None:
        row.update(in_distribution=bool(in_distribution), ood_score=float(ood_score))
    return row


def failed_row(file: str, reason: str) -> dict:
    return {"file": file, "error": reason}


def to_line(row: dict) -> str:
    return json.dumps(row)


def count_rows(lines: Iterable[str]) -> tuple[int, int]:
    """(files scored, files that failed) in the JSON lines."""
    rows = [json.loads(line) for line in lines if line.strip()]
    failed = sum("error" in row for row in rows)
    return len(rows) - failed, failed


@dataclasses.dataclass
class Scores:
    path: str  # the JSON lines; "" when BulkInferrer scored nothing (the model was not blessed)
    scored: int
    failed: int

    def describe(self) -> str:
        if not self.path:
            return "No scores of --score-data: the model was not blessed (BulkInferrer scores blessed models only)"
        return (
            f"Scored {self.scored} images of --score-data, {self.failed} files could not be (their lines give "
            f"the reason): {self.path}"
        )


def _value(example, key: str):
    feature = example.features.feature[key]
    return getattr(feature, feature.WhichOneof("kind")).value[0]


def bulk_inferrer_rows(scores_uri: str, class_names: list[str]) -> list[dict]:
    """A row for each example BulkInferrer wrote (its output_example_spec keeps the file name)."""
    import tensorflow as tf

    files = tf.io.gfile.glob(os.path.join(scores_uri, "Split-*", "*"))
    rows = []
    for record in tf.data.TFRecordDataset(files, compression_type="GZIP"):
        example = tf.train.Example.FromString(record.numpy())
        rows.append(
            scored_row(
                _value(example, contract.FILENAME_KEY).decode(),
                class_names[_value(example, contract.CLASS_ID_OUTPUT)],
                _value(example, contract.PROBABILITY_OUTPUT),
                _value(example, contract.IN_DISTRIBUTION_OUTPUT),
                _value(example, contract.OOD_SCORE_OUTPUT),
            )
        )
    return rows


def export_scores(training_examples: str, score_examples: str, scores: str, path: str) -> Scores:
    """Writes path from the run's artifacts (RunArtifacts.examples, .score_examples, .scores): class names
    from the training data, skipped files from the score data's ingest report."""
    import tensorflow as tf

    if not scores:
        if tf.io.gfile.exists(path):  # an earlier run's, which would pass for this one's
            tf.io.gfile.remove(path)
        return Scores("", 0, 0)
    class_names = contract.IngestReport.read(training_examples).class_names
    scored = bulk_inferrer_rows(scores, class_names)
    failed = [failed_row(s.file, s.reason) for s in contract.IngestReport.read(score_examples).skipped]
    with tf.io.gfile.GFile(path, "w") as f:
        for row in sorted(scored + failed, key=lambda row: row["file"]):
            f.write(to_line(row) + "\n")
    return Scores(path, len(scored), len(failed))
