"""Runs the pipeline on this machine: LocalDagRunner, Beam's DirectRunner, ML Metadata in SQLite."""

import dataclasses
import os

from tfx.orchestration import metadata
from tfx.orchestration.local.local_dag_runner import LocalDagRunner

from components import contract, keras_autograph
from components.ingest import fetch, sources
from components.scores import export_scores
from pipeline import configs, progress
from pipeline.pipeline import create_pipeline
from pipeline.run_summary import RunSummary, find_artifacts, summarize
from pipeline.settings import LocalRunSettings

SCHEMA_FILE = "schema.pbtxt"


def _absolute(uri: str) -> str:
    """Plain paths become absolute, so ML Metadata records the file wherever the command ran."""
    return uri if "://" in uri or not uri else os.path.abspath(uri)


def reference_schema(output_dir: str) -> str:
    """Where a run directory keeps the schema its first successful run inferred."""
    return os.path.join(output_dir, configs.SCHEMA_SUBDIR, SCHEMA_FILE)


def _keep_reference_schema(metadata_path: str, reference: str) -> None:
    """The first successful run's schema becomes the reference (a user may curate it, or check it in and
    pass --schema-file): later runs import it, so drifting data shows as anomalies instead of a new schema.
    Curated as kept: file names are unique to each image, so a domain SchemaGen inferred from a small
    dataset's names would call every image added later an anomaly."""
    import tensorflow_data_validation as tfdv

    schema_dir = find_artifacts(metadata_path).schema
    if schema_dir:
        schema = tfdv.load_schema_text(os.path.join(schema_dir, SCHEMA_FILE))
        feature = tfdv.get_feature(schema, contract.FILENAME_KEY)
        feature.ClearField("domain")
        feature.ClearField("string_domain")
        kept = [d for d in schema.string_domain if d.name != contract.FILENAME_KEY]
        del schema.string_domain[:]
        schema.string_domain.extend(kept)
        os.makedirs(os.path.dirname(reference), exist_ok=True)
        tfdv.write_schema_text(schema, reference)


def data_key(data_uri: str) -> tuple[str, str]:
    """(sha256, fingerprint) of the data, to key ingestion's cache: changed data at the same place is ingested
    again. A local zip's sha256 (read whole: it is on this disk); a folder's or an object store's fingerprint
    (names, sizes and versions, from a listing); neither for a download (--sha256 pins one)."""
    if "://" not in data_uri and os.path.isfile(data_uri):
        return fetch.sha256_of(data_uri), ""
    if data_uri.startswith(("http://", "https://")):
        return "", ""
    return "", sources.resolve(data_uri).list_files().fingerprint()


def run(settings: LocalRunSettings) -> RunSummary:
    keras_autograph.leave_keras_unconverted()  # every component runs in this process: the Evaluator loads Keras too
    output_dir = os.path.abspath(settings.output_dir)
    data_uri = _absolute(settings.data_uri)
    sha256, fingerprint = (settings.data_sha256, "") if settings.data_sha256 else data_key(data_uri)
    score_data_uri = _absolute(settings.score_data_uri)
    reference = reference_schema(output_dir)
    schema_file = settings.schema_file or (reference if os.path.exists(reference) else "")
    metadata_path = os.path.join(output_dir, configs.METADATA_FILE)
    os.makedirs(output_dir, exist_ok=True)
    pipeline = create_pipeline(
        dataclasses.replace(
            settings,
            data_uri=data_uri,
            data_sha256=sha256,
            score_data_uri=score_data_uri,
            schema_file=_absolute(schema_file),
        ),
        data_fingerprint=fingerprint,
        pipeline_root=os.path.join(output_dir, configs.PIPELINE_ROOT_SUBDIR),
        serving_model_dir=os.path.join(output_dir, configs.SERVING_SUBDIR, settings.model_name),
        enable_cache=settings.enable_cache,
        metadata_connection_config=metadata.sqlite_metadata_connection_config(metadata_path),
        score_data_key=data_key(score_data_uri) if score_data_uri else ("", ""),
    )
    with progress.reported(len(pipeline.components)) as stages:
        LocalDagRunner().run(pipeline)
    if not schema_file:
        _keep_reference_schema(metadata_path, reference)
    summary = summarize(metadata_path)
    summary.stages = stages
    if score_data_uri:
        artifacts = find_artifacts(metadata_path)
        summary.scores = export_scores(
            artifacts.examples,
            artifacts.score_examples,
            artifacts.scores,
            os.path.join(output_dir, configs.SCORES_FILE),
        )
    return summary
