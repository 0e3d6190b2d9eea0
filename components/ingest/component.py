"""ImageExampleGen: a custom ExampleGen for images in class folders: a zip, a folder or an object-store prefix."""

from tfx import types
from tfx.dsl.components.base import base_beam_component, executor_spec
from tfx.orchestration import data_types
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter, ExecutionParameter

from components.ingest import executor


class ImageExampleGenSpec(types.ComponentSpec):
    PARAMETERS = {
        executor.DATA_URI_KEY: ExecutionParameter(type=str),
        executor.SHA256_KEY: ExecutionParameter(type=str, optional=True),
        executor.EVAL_PERCENT_KEY: ExecutionParameter(type=int),
        executor.DOWNLOAD_TIMEOUT_KEY: ExecutionParameter(type=int, optional=True),
        # 0 or 1: what a bool compiles to in a Kubeflow spec
        executor.KEEP_CROSS_SPLIT_DUPLICATES_KEY: ExecutionParameter(type=int, optional=True),
        # What the runner saw of a folder or object-store data (names, sizes, versions): keys the cache, and
        # ingestion checks the data still has it.
        executor.DATA_FINGERPRINT_KEY: ExecutionParameter(type=str, optional=True),
        executor.UNLABELLED_KEY: ExecutionParameter(type=int, optional=True),
    }
    INPUTS = {}
    OUTPUTS = {executor.EXAMPLES_KEY: ChannelParameter(type=standard_artifacts.Examples)}


class ImageExampleGen(base_beam_component.BaseBeamComponent):
    """Emits train/eval tf.Examples (image_raw, label, filename) and an ingest report beside them.

    Splits come from train/ and validation/ (val/, test/) folders, or from a hash of the file name
    when the data has class folders only. The class names travel in ingest_report.json. Eval images whose
    exact bytes are also in train are left out unless keep_cross_split_duplicates (components/ingest/duplicates.py).
    unlabelled=True ingests images to score: every file in one split, 'score', without a label.
    """

    SPEC_CLASS = ImageExampleGenSpec
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(executor.Executor)

    def __init__(
        self,
        data_uri: str | data_types.RuntimeParameter,
        eval_percent: int,
        sha256: str | data_types.RuntimeParameter | None = None,
        download_timeout_seconds: int | None = None,
        keep_cross_split_duplicates: bool = False,
        data_fingerprint: str | None = None,
        unlabelled: bool = False,
    ):
        super().__init__(
            spec=ImageExampleGenSpec(
                data_uri=data_uri,
                sha256=sha256,
                eval_percent=eval_percent,
                download_timeout_seconds=download_timeout_seconds,
                keep_cross_split_duplicates=int(keep_cross_split_duplicates),
                data_fingerprint=data_fingerprint,
                unlabelled=int(unlabelled),
                examples=types.Channel(type=standard_artifacts.Examples),
            )
        )
