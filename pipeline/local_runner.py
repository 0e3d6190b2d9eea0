"""Runs the pipeline on this machine: LocalDagRunner, Beam's DirectRunner, ML Metadata in SQLite."""

import dataclasses
import os
from typing import Optional

from tfx import v1 as tfx

from components.ingest import fetch
from components.names import plain_model_name
from pipeline import configs
from pipeline.pipeline import create_pipeline
from pipeline.run_summary import RunSummary, summarize


@dataclasses.dataclass
class LocalRunSettings:
    data_uri: str = configs.DATA_URI
    output_dir: str = configs.OUTPUT_DIR
    model_name: str = configs.MODEL_NAME
    data_sha256: str = ""
    eval_percent: int = configs.EVAL_PERCENT
    download_timeout_seconds: Optional[int] = None  # None: components.limits.DOWNLOAD_TIMEOUT_SECONDS
    image_size: int = configs.IMAGE_SIZE
    min_accuracy: float = configs.MIN_ACCURACY
    enable_cache: bool = True
    train_config: dict = dataclasses.field(default_factory=dict)


def _local_data_uri(data_uri: str) -> str:
    """Plain paths become absolute, so ML Metadata records the file wherever the command ran."""
    return data_uri if "://" in data_uri else os.path.abspath(data_uri)


def run(settings: LocalRunSettings) -> RunSummary:
    output_dir = os.path.abspath(settings.output_dir)
    data_uri = _local_data_uri(settings.data_uri)
    sha256 = settings.data_sha256
    if not sha256 and "://" not in data_uri and os.path.isfile(data_uri):
        # The content's hash keys the cache: a changed zip at the same path is ingested again.
        sha256 = fetch.sha256_of(data_uri)
    metadata_path = os.path.join(output_dir, configs.METADATA_FILE)
    os.makedirs(output_dir, exist_ok=True)
    pipeline = create_pipeline(
        pipeline_name=configs.PIPELINE_NAME,
        pipeline_root=os.path.join(output_dir, configs.PIPELINE_ROOT_SUBDIR),
        data_uri=data_uri,
        data_sha256=sha256 or None,
        serving_model_dir=os.path.join(output_dir, configs.SERVING_SUBDIR, plain_model_name(settings.model_name)),
        preprocessing_fn=configs.PREPROCESSING_FN,
        run_fn=configs.RUN_FN,
        eval_percent=settings.eval_percent,
        download_timeout_seconds=settings.download_timeout_seconds,
        image_size=settings.image_size,
        train_config=settings.train_config,
        min_accuracy=settings.min_accuracy,
        enable_cache=settings.enable_cache,
        metadata_connection_config=tfx.orchestration.metadata.sqlite_metadata_connection_config(metadata_path),
    )
    tfx.orchestration.LocalDagRunner().run(pipeline)
    return summarize(metadata_path)
