"""What a finished run did, read back from ML Metadata: pushed where, or why not."""

import dataclasses
import json
import os
from typing import List, Optional

import tensorflow_model_analysis as tfma
from ml_metadata.metadata_store import metadata_store
from tfx.orchestration import metadata
from tfx.types import standard_artifacts

from components import evaluation, features


@dataclasses.dataclass
class RunSummary:
    pushed: bool
    destination: str
    reasons: List[str]  # why the model was not blessed, one line a failed check
    accuracy: Optional[float]
    ingest_report: str
    skipped_files: int


def _latest(store: metadata_store.MetadataStore, type_name: str):
    artifacts = store.get_artifacts_by_type(type_name)
    return max(artifacts, key=lambda a: a.id) if artifacts else None


def _accuracy(evaluation_uri: str) -> Optional[float]:
    for slice_metrics in tfma.load_metrics(evaluation_uri):
        if slice_metrics.slice_key.single_slice_keys:  # only the overall slice
            continue
        for key_and_value in slice_metrics.metric_keys_and_values:
            if key_and_value.key.name == evaluation.GATED_METRIC_KEY and not key_and_value.key.HasField("model_name"):
                return key_and_value.value.double_value.value
    return None


def _reasons(evaluation_uri: str) -> List[str]:
    result = tfma.load_validation_result(evaluation_uri)
    reasons = []
    for per_slice in result.metric_validations_per_slice:
        for failure in per_slice.failures:
            reasons.append(
                f"{failure.metric_key.name} = {failure.metric_value.double_value.value:.4f} failed: {failure.message}"
            )
    return reasons or ["the Evaluator did not bless the model"]


def summarize(metadata_path: str) -> RunSummary:
    store = metadata_store.MetadataStore(metadata.sqlite_metadata_connection_config(metadata_path))
    pushed_model = _latest(store, standard_artifacts.PushedModel.TYPE_NAME)
    model_evaluation = _latest(store, standard_artifacts.ModelEvaluation.TYPE_NAME)
    examples = _latest(store, standard_artifacts.Examples.TYPE_NAME)
    pushed = bool(pushed_model and pushed_model.custom_properties["pushed"].int_value)
    report_path = os.path.join(examples.uri, features.INGEST_REPORT_FILE) if examples else ""
    skipped = 0
    if report_path and os.path.exists(report_path):
        with open(report_path) as f:
            skipped = len(json.load(f)["skipped"])
    return RunSummary(
        pushed=pushed,
        destination=pushed_model.custom_properties["pushed_destination"].string_value if pushed else "",
        reasons=[] if pushed or not model_evaluation else _reasons(model_evaluation.uri),
        accuracy=_accuracy(model_evaluation.uri) if model_evaluation else None,
        ingest_report=report_path,
        skipped_files=skipped,
    )


def describe(summary: RunSummary) -> str:
    lines = []
    if summary.accuracy is not None:
        lines.append(f"Validation accuracy: {summary.accuracy:.4f}")
    if summary.skipped_files:
        lines.append(f"Skipped {summary.skipped_files} file(s) that are not images: see {summary.ingest_report}")
    if summary.pushed:
        lines.append(f"Model pushed to {summary.destination}")
    else:
        lines.append("Model NOT pushed: " + "; ".join(summary.reasons))
    return "\n".join(lines)
