"""What a finished run did, read back from ML Metadata: pushed where, or why not."""

import dataclasses
import json
import os
import shutil
import sys

import tensorflow_model_analysis as tfma
from ml_metadata import errors
from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2
from tfx.orchestration import metadata
from tfx.types import standard_artifacts

from components import contract, evaluation, trainer
from components.ingest import duplicates
from components.scores import Scores
from pipeline import configs
from pipeline.progress import StageTime


@dataclasses.dataclass
class RunSummary:
    pushed: bool
    destination: str
    reasons: list[str]  # why the model was not blessed, one line a failed check
    accuracy: float | None
    ingest_report: str
    skipped_files: int
    dropped_duplicates: int  # eval images left out as exact copies of training images
    model_run: str  # the Trainer's ModelRun folder: history.json, model_summary.txt, logs/
    scores: Scores | None = None  # with --score-data: what BulkInferrer scored, written where
    trainer_input: str = ""  # how the Trainer read its examples (cached or streamed) and why
    stages: list[StageTime] = dataclasses.field(default_factory=list)  # this run's, in order (local runs)


def _latest(store: metadata_store.MetadataStore, type_name: str):
    artifacts = store.get_artifacts_by_type(type_name)
    return max(artifacts, key=lambda a: a.id) if artifacts else None


def latest_output(store: metadata_store.MetadataStore, node_id: str, type_name: str):
    """The newest artifact of the type that the node output: three nodes output Examples with --score-data."""
    context = store.get_context_by_type_and_name("node", f"{configs.PIPELINE_NAME}.{node_id}")
    if context is None:
        return None
    try:
        type_id = store.get_artifact_type(type_name).id
    except errors.NotFoundError:  # no node has output one yet
        return None
    executions = store.get_executions_by_context(context.id)
    events = store.get_events_by_execution_ids([e.id for e in executions])
    outputs = {e.artifact_id for e in events if e.type == metadata_store_pb2.Event.OUTPUT}
    return max(
        (a for a in store.get_artifacts_by_id(list(outputs)) if a.type_id == type_id), key=lambda a: a.id, default=None
    )


def overall_metrics(evaluation_uri: str) -> dict[str, float]:
    """The evaluated model's metrics on the whole eval split, by TFMA name (binary_accuracy, precision, auc...)."""
    metrics = {}
    for slice_metrics in tfma.load_metrics(evaluation_uri):
        if slice_metrics.slice_key.single_slice_keys:  # only the overall slice
            continue
        for key_and_value in slice_metrics.metric_keys_and_values:
            key = key_and_value.key
            # With a baseline, TFMA reports both models and their difference: take the candidate's value.
            if not key.is_diff and key.model_name != "baseline" and key_and_value.value.HasField("double_value"):
                metrics[key.name] = key_and_value.value.double_value.value
    return metrics


def _accuracy(evaluation_uri: str) -> float | None:
    return overall_metrics(evaluation_uri).get(evaluation.GATED_METRIC_KEY)


def _describe_failure(failure) -> str:
    name, value = failure.metric_key.name, failure.metric_value.double_value.value
    if failure.metric_key.is_diff:
        allowed = -failure.metric_threshold.change_threshold.absolute.value
        return (
            f"no-regression check failed: {name} is {-value:.4f} lower than the latest blessed model's "
            f"(allowed: {allowed:.4f}, --max-regression)"
        )
    bounds = failure.metric_threshold.value_threshold
    if bounds.HasField("lower_bound") and value < bounds.lower_bound.value:
        return (
            f"accuracy floor failed: {name} = {value:.4f} is {bounds.lower_bound.value - value:.4f} below "
            f"the required {bounds.lower_bound.value:g} (--min-accuracy)"
        )
    return f"{name} = {value:.4f} failed its threshold {failure.message}".strip()


def _reasons(evaluation_uri: str) -> list[str]:
    result = tfma.load_validation_result(evaluation_uri)
    reasons = [
        _describe_failure(failure)
        for per_slice in result.metric_validations_per_slice
        for failure in per_slice.failures
    ]
    return reasons or ["the Evaluator did not bless the model"]


def _trainer_input(model_run_uri: str) -> str:
    path = os.path.join(model_run_uri, trainer.HISTORY_FILE)
    if not os.path.exists(path):
        return ""
    with open(path) as f:
        plan = json.load(f).get("input")
    return plan["reason"] if plan else ""


def _open(metadata_path: str) -> metadata_store.MetadataStore:
    return metadata_store.MetadataStore(metadata.sqlite_metadata_connection_config(metadata_path))


def summarize(metadata_path: str) -> RunSummary:
    store = _open(metadata_path)
    pushed_model = _latest(store, standard_artifacts.PushedModel.TYPE_NAME)
    model_evaluation = _latest(store, standard_artifacts.ModelEvaluation.TYPE_NAME)
    examples = latest_output(store, configs.TRAINING_EXAMPLE_GEN_ID, standard_artifacts.Examples.TYPE_NAME)
    model_run = _latest(store, standard_artifacts.ModelRun.TYPE_NAME)
    pushed = bool(pushed_model and pushed_model.custom_properties["pushed"].int_value)
    return _summary(
        destination=pushed_model.custom_properties["pushed_destination"].string_value if pushed else "",
        evaluation_uri=model_evaluation.uri if model_evaluation else "",
        examples_uri=examples.uri if examples else "",
        dropped_duplicates=examples.custom_properties[duplicates.DROPPED].int_value if examples else 0,
        model_run_uri=model_run.uri if model_run else "",
    )


def summarize_outputs(output) -> RunSummary:
    """The summary of a run that kept no ML Metadata (catdog kfp run-local): output(task, key) gives the
    {"uri", "metadata"} a task's executor output recorded for an artifact, {} for none."""
    pushed_model = output(configs.PUSHER_ID, "pushed_model")
    examples = output(configs.TRAINING_EXAMPLE_GEN_ID, "examples")
    metadata = pushed_model.get("metadata", {})
    return _summary(
        destination=metadata.get("pushed_destination", "") if metadata.get("pushed") else "",
        evaluation_uri=output(configs.EVALUATOR_ID, "evaluation").get("uri", ""),
        examples_uri=examples.get("uri", ""),
        dropped_duplicates=int(examples.get("metadata", {}).get(duplicates.DROPPED, 0)),
        model_run_uri=output(configs.TRAINER_ID, "model_run").get("uri", ""),
    )


def _summary(
    destination: str, evaluation_uri: str, examples_uri: str, dropped_duplicates: int, model_run_uri: str
) -> RunSummary:
    """destination: where the model was pushed, "" if it was not; "" for the artifacts the run has none of."""
    report_path = os.path.join(examples_uri, contract.INGEST_REPORT_FILE) if examples_uri else ""
    has_report = report_path and os.path.exists(report_path)
    skipped = len(contract.IngestReport.read(examples_uri).skipped) if has_report else 0
    return RunSummary(
        pushed=bool(destination),
        destination=destination,
        reasons=[] if destination or not evaluation_uri else _reasons(evaluation_uri),
        accuracy=_accuracy(evaluation_uri) if evaluation_uri else None,
        ingest_report=report_path,
        skipped_files=skipped,
        dropped_duplicates=dropped_duplicates,
        model_run=model_run_uri,
        trainer_input=_trainer_input(model_run_uri) if model_run_uri else "",
    )


def stage_table(stages: list[StageTime]) -> str:
    """Stage and seconds, one row each, and the total: where a run's time went."""
    width = max([len("Total"), *(len(stage.name) for stage in stages)])
    rows = [f"{'Stage':<{width}}  {'Seconds':>8}"]
    rows += [f"{stage.name:<{width}}  {'cached' if stage.cached else f'{stage.seconds:.1f}':>8}" for stage in stages]
    rows.append(f"{'Total':<{width}}  {sum(stage.seconds for stage in stages):>8.1f}")
    return "\n".join(rows)


def _shown(path: str) -> str:
    """A path under the current folder as a relative one (shorter to read and to paste), others as they are."""
    relative = os.path.relpath(path)
    return path if relative.startswith("..") else relative


def where_to_look(summary: RunSummary, report_html: str) -> str:
    """The lines after the verdict: the report, and TensorBoard's logs with the command that opens them."""
    lines = [f"Report: {_shown(report_html)}"] if report_html else []
    logs = os.path.join(summary.model_run, "logs") if summary.model_run else ""
    if logs and os.path.isdir(logs):
        tensorboard = shutil.which("tensorboard", path=os.path.dirname(sys.executable)) or "tensorboard"
        lines.append(f"TensorBoard: {_shown(tensorboard)} --logdir {_shown(logs)}")
    return "\n".join(lines)


def describe(summary: RunSummary) -> str:
    lines = []
    if summary.accuracy is not None:
        lines.append(f"Validation accuracy: {summary.accuracy:.4f}")
    if summary.trainer_input:
        lines.append(f"Trainer input: {summary.trainer_input}")
    if summary.skipped_files:
        lines.append(
            f"Skipped {summary.skipped_files} file(s) (not decodable, over a limit or duplicated): "
            f"see {summary.ingest_report}"
        )
    if summary.dropped_duplicates:
        lines.append(
            f"Left {summary.dropped_duplicates} eval image(s) out, exact copies of training images "
            f"(--keep-cross-split-duplicates keeps them): see {summary.ingest_report}"
        )
    if summary.pushed:
        lines.append(f"Model pushed to {summary.destination}")
    else:
        lines.append("Model NOT pushed: " + ("; ".join(summary.reasons) or "the run did not reach the Evaluator"))
    if summary.scores is not None:
        lines.append(summary.scores.describe())
    return "\n".join(lines)


@dataclasses.dataclass
class RunArtifacts:
    """Folders of the latest artifact of each kind in a run's metadata; "" for a kind it has none of."""

    examples: str  # ImageExampleGen: Split-*/ TFRecords, ingest_report.json (class names, counts, skipped files)
    schema: str  # SchemaGen or ImportSchemaGen: schema.pbtxt
    anomalies: str  # ExampleValidator: Split-*/SchemaDiff.pb
    model: str  # Trainer: the SavedModel under Format-Serving/
    model_run: str  # Trainer: history.json, model_summary.txt, logs/
    evaluation: str  # Evaluator: TFMA metrics and validation result
    blessed: bool | None  # the Evaluator's verdict; None when it did not run
    score_examples: str  # ScoreExampleGen (--score-data): Split-score/ TFRecords, ingest_report.json
    scores: str  # BulkInferrer: Split-score/ examples with probability and class_id; "" if it scored nothing


def find_artifacts(metadata_path: str) -> RunArtifacts:
    store = _open(metadata_path)

    def uri(artifact_type) -> str:
        artifact = _latest(store, artifact_type.TYPE_NAME)
        return artifact.uri if artifact else ""

    def output_uri(node_id: str) -> str:
        artifact = latest_output(store, node_id, standard_artifacts.Examples.TYPE_NAME)
        return artifact.uri if artifact else ""

    blessing = _latest(store, standard_artifacts.ModelBlessing.TYPE_NAME)
    scores = latest_output(store, configs.BULK_INFERRER_ID, standard_artifacts.Examples.TYPE_NAME)
    return RunArtifacts(
        examples=output_uri(configs.TRAINING_EXAMPLE_GEN_ID),
        schema=uri(standard_artifacts.Schema),
        anomalies=uri(standard_artifacts.ExampleAnomalies),
        model=uri(standard_artifacts.Model),
        model_run=uri(standard_artifacts.ModelRun),
        evaluation=uri(standard_artifacts.ModelEvaluation),
        blessed=bool(blessing.custom_properties["blessed"].int_value) if blessing else None,
        score_examples=output_uri(configs.SCORE_EXAMPLE_GEN_ID),
        # Given an unblessed model, BulkInferrer returns at once: its artifact has no splits.
        scores=scores.uri if scores and scores.properties["split_names"].string_value not in ("", "[]") else "",
    )
