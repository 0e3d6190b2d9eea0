"""Runs ImageExampleGen's executor on test data and reads back what it wrote, as sets that compare across runs."""

import json
import os
from collections.abc import Sequence
from pathlib import Path

import tensorflow as tf
from tfx.dsl.components.base import base_beam_executor
from tfx.types import standard_artifacts

from components import contract
from components.ingest import executor, layout
from pipeline.settings import RunSettings

# --direct_num_workers=2 on the multi-processing DirectRunner: workers in processes of their own, which see
# only what the pipeline hands them (pickled DoFns, files), as on a cluster.
MULTI_PROCESSING = ("--direct_running_mode=multi_processing", "--direct_num_workers=2")

Example = tuple[str, int, str, bytes]  # (file name, label, split, image bytes)


def record_as_ingestion_output(metadata_path: str, examples: standard_artifacts.Examples) -> None:
    """A metadata store holding this Examples artifact as TFX records it: the output of a finished
    ImageExampleGen execution, in that node's context (how the run summary and report find the run's data)."""
    from ml_metadata.metadata_store import metadata_store
    from ml_metadata.proto import metadata_store_pb2 as mlmd
    from tfx.orchestration import metadata

    from pipeline import configs

    store = metadata_store.MetadataStore(metadata.sqlite_metadata_connection_config(metadata_path))
    artifact = mlmd.Artifact()
    artifact.CopyFrom(examples.mlmd_artifact)  # its uri and custom properties
    artifact.type_id = store.put_artifact_type(examples.artifact_type)
    node = mlmd.Context(
        type_id=store.put_context_type(mlmd.ContextType(name="node")),
        name=f"{configs.PIPELINE_NAME}.{configs.TRAINING_EXAMPLE_GEN_ID}",
    )
    [node.id] = store.put_contexts([node])
    execution = mlmd.Execution(
        type_id=store.put_execution_type(mlmd.ExecutionType(name="ImageExampleGen")),
        last_known_state=mlmd.Execution.COMPLETE,
    )
    store.put_execution(execution, [(artifact, mlmd.Event(type=mlmd.Event.OUTPUT))], [node])


def run_ingestion(examples_uri, data_uri: str, beam_args: Sequence[str] = (), **properties):
    """The executor's Examples artifact, as TFX would lay it out (<component>/examples/<execution id>)."""
    examples = standard_artifacts.Examples()
    examples.uri = str(examples_uri)
    properties = {
        executor.DATA_URI_KEY: str(data_uri),
        executor.EVAL_PERCENT_KEY: RunSettings.eval_percent,
        **properties,
    }
    context = base_beam_executor.BaseBeamExecutor.Context(beam_pipeline_args=list(beam_args))
    executor.Executor(context).Do({}, {executor.EXAMPLES_KEY: [examples]}, properties)
    return examples


def examples_of(examples) -> set[Example]:
    found = set()
    for split in layout.SPLITS:
        files = tf.io.gfile.glob(os.path.join(examples.uri, f"Split-{split}", "*"))
        for record in tf.data.TFRecordDataset(files, compression_type="GZIP"):
            feature = tf.train.Example.FromString(record.numpy()).features.feature
            found.add(
                (
                    feature[contract.FILENAME_KEY].bytes_list.value[0].decode(),
                    feature[contract.LABEL_KEY].int64_list.value[0],
                    split,
                    feature[contract.IMAGE_RAW_KEY].bytes_list.value[0],
                )
            )
    return found


def report_of(examples) -> dict:
    return json.loads(Path(examples.uri, contract.INGEST_REPORT_FILE).read_text())


def write_folder(root: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return root
