"""Every setting of a run, declared once with its default, its help and its check.

The flags of `catdog run` and `catdog kfp compile|deploy` are generated from these dataclasses
(add_arguments), both runners hand them to create_pipeline, and the Trainer's TrainConfig inherits
TrainingSettings. A new knob is one field here. No TensorFlow import: `catdog --help` stays quick.
"""

import dataclasses
import os
import re

from components import contract, files, limits
from components.settings_core import SettingsError, above_up_to, between, plain_name, setting
from components.training_settings import TrainingSettings
from pipeline import configs

# Accuracy a retrained model may lose against the latest blessed one and still be pushed: the default
# recipe's seeds spread over 0.4 points (bench/results/seed_spread.json) and one standard error on the
# 1,000 validation images about 0.0045, so 0.01 passes an equally good retrain and stops a worse one.
DEFAULT_MAX_REGRESSION = 0.01

YAML = "yaml"  # Kubeflow Pipelines 2: what kfp.Client uploads
VERTEX_JSON = "vertex-json"  # Vertex AI: a PipelineJob
PACKAGE_SUFFIXES = {YAML: (".yaml", ".yml"), VERTEX_JSON: (".json",)}
# Accelerator names Vertex AI's custom jobs take (open-source KFP takes a Kubernetes resource name instead).
VERTEX_GPU_TYPES = (
    "NVIDIA_TESLA_T4",
    "NVIDIA_TESLA_V100",
    "NVIDIA_TESLA_P100",
    "NVIDIA_TESLA_P4",
    "NVIDIA_TESLA_K80",
    "NVIDIA_TESLA_A100",
    "NVIDIA_A100_80GB",
    "NVIDIA_L4",
    "NVIDIA_H100_80GB",
)
DEFAULT_GPU_TYPE = {YAML: "nvidia.com/gpu", VERTEX_JSON: "NVIDIA_TESLA_T4"}
_KUBERNETES_RESOURCE = re.compile(r"^[a-z0-9]([a-z0-9.-]*[a-z0-9])?\.[a-z]+/[a-z0-9]([a-z0-9._-]*[a-z0-9])?$")
# What the ingest step can fetch from inside a pod: not a path, which would name the container's files.
CLUSTER_DATA_SCHEMES = ("http", "https", "gs", "s3", "hdfs")


@dataclasses.dataclass(frozen=True)
class RunSettings(TrainingSettings):
    """Every knob of a pipeline run, wherever it runs."""

    data_uri: str = setting(
        configs.DATA_URI,
        "images in class folders: a zip (http(s)://, gs://, s3:// or file:// "
        "URL, or a path), a folder, or an object-store prefix (gs://bucket/pets/)",
        flag="--data",
        group="data",
    )
    data_sha256: str = setting(
        "", "expected sha256 of the zip (computed for local files if omitted)", flag="--sha256", group="data"
    )
    score_data_uri: str = setting(
        "",
        "images to score with the model once it is blessed (BulkInferrer): a zip as for "
        "--data, its files anywhere, no class folders needed",
        flag="--score-data",
        group="data",
    )
    model_name: str = setting(
        configs.MODEL_NAME, "the model's name: its folder under serving/", check=plain_name, group="output"
    )
    eval_percent: int = setting(
        20, "eval share when the data has class folders only", check=between(1, 99), group="data"
    )
    keep_cross_split_duplicates: bool = setting(
        False,
        "keep eval images whose exact bytes are also in train "
        "(default: left out of eval, where a photo the model "
        "trained on would inflate validation accuracy)",
        group="data",
    )
    download_timeout_seconds: int = setting(
        limits.DOWNLOAD_TIMEOUT_SECONDS,
        "give up a download of --data after this many seconds, however slowly it trickles",
        flag="--download-timeout",
        check=between(1, limits.MAX_WAIT_SECONDS),
        group="data",
    )
    image_size: int = setting(
        contract.DEFAULT_IMAGE_SIZE,
        "side of the square model input, in pixels",
        check=between(8, limits.MAX_IMAGE_SIZE, f"an image holds at most {limits.MAX_IMAGE_PIXELS:,} pixels"),
        group="data",
    )
    min_accuracy: float = setting(
        0.70, "validation accuracy a model needs to be pushed", check=between(0, 1), group="gates"
    )
    max_regression: float = setting(
        DEFAULT_MAX_REGRESSION,
        "accuracy (0-1) a model may lose against the latest blessed one and still be pushed",
        check=between(0, 1),
        group="gates",
    )
    schema_file: str = setting(
        "",
        "schema.pbtxt the data must match (default: the one the first successful "
        "local run kept under <output>/schema/; none: infer it)",
        group="gates",
    )
    allow_anomalies: bool = setting(
        False, "train even when ExampleValidator finds anomalies against the schema", group="gates"
    )
    beam_pipeline_args: tuple[str, ...] = setting(
        (),
        "Beam pipeline options for every Beam-powered component: repeatable, several in one quoted string "
        "or one each, e.g. --beam-arg='--runner=DataflowRunner --project=P' or --beam-arg --direct_num_workers=2",
        flag="--beam-arg",
        metavar="ARG",
        group="Beam",
    )

    def train_config(self) -> dict:
        """The Trainer's custom_config."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(TrainingSettings)}


@dataclasses.dataclass(frozen=True)
class LocalRunSettings(RunSettings):
    output_dir: str = setting(
        configs.OUTPUT_DIR, "run directory: artifacts, metadata, serving/", flag="--output", group="output"
    )
    enable_cache: bool = setting(True, "recompute every component", flag="--no-cache", group="output")

    def __post_init__(self):
        super().__post_init__()
        if self.schema_file and "://" not in self.schema_file:
            try:  # TFX's ImportSchemaGen would block on a FIFO, after ingestion
                files.check_regular(self.schema_file)
            except files.FileRefused as e:
                raise SettingsError(f"--schema-file {e}") from e


@dataclasses.dataclass(frozen=True)
class KubeflowSettings(RunSettings):
    GROUP = "Kubeflow"

    output: str = setting("", f"package file to write (default: {configs.KFP_PACKAGE}, .json for vertex-json)")
    format: str = setting(
        YAML,
        "yaml: Kubeflow Pipelines 2 (kfp.Client); vertex-json: a Vertex AI PipelineJob, "
        "whose Evaluator also compares with the latest blessed model",
        choices=tuple(PACKAGE_SUFFIXES),
    )
    image: str = setting(configs.KFP_IMAGE, "container image built from the Dockerfile")
    pipeline_root: str = setting(configs.KFP_PIPELINE_ROOT, "artifact store: gs://, s3:// or minio:// (KFP's own)")
    serving_dir: str = setting(
        "", "where the Pusher puts model versions (default: <pipeline-root>/serving/<model-name>)"
    )
    gpus: int = setting(1, "GPUs for the Trainer (0: CPU only)", check=between(0, limits.MAX_GPUS))
    gpu_type: str = setting(
        "",
        f"GPU type: on KFP a Kubernetes resource (default {DEFAULT_GPU_TYPE[YAML]}), on "
        f"Vertex AI a model name (default {DEFAULT_GPU_TYPE[VERTEX_JSON]})",
    )
    cpus: float = setting(4.0, "CPUs for the Trainer", check=above_up_to(0, limits.MAX_CPUS))
    memory_gb: float = setting(16.0, "memory for the Trainer, GB", check=above_up_to(0, limits.MAX_MEMORY_GB))
    workers: int = setting(
        1,
        "machines the Trainer trains on together (MultiWorkerMirroredStrategy, docs/gpu.md): "
        "above 1, Vertex AI Training runs a chief and workers-1 workers, each with --gpus "
        f"(--format {VERTEX_JSON} only: open-source KFP runs the Trainer in one pod)",
        check=between(1, limits.MAX_WORKERS),
    )
    vertex_project: str = setting("", "--workers above 1: the Google Cloud project Vertex AI Training runs them in")
    vertex_region: str = setting("us-central1", "--workers above 1: the region of Vertex AI Training")
    machine_type: str = setting("n1-standard-8", "--workers above 1: each worker's Compute Engine machine type")

    def __post_init__(self):
        super().__post_init__()
        suffixes = PACKAGE_SUFFIXES[self.format]
        if self.output and not self.output.endswith(suffixes):
            raise SettingsError(f"--output {self.output}: a {self.format} package ends with {' or '.join(suffixes)}")
        self._check_cluster_locations()
        if self.gpus:
            check_gpu_type(self.accelerator_type, self.format)
        if self.workers > 1 and self.format != VERTEX_JSON:
            raise SettingsError(
                f"--workers {self.workers}: open-source Kubeflow Pipelines runs the Trainer in one "
                f"pod; several machines train on Vertex AI Training (--format {VERTEX_JSON})"
            )
        if self.workers > 1 and not self.vertex_project:
            raise SettingsError(
                f"--workers {self.workers}: give --vertex-project, the Google Cloud project whose "
                "Vertex AI Training runs the workers"
            )

    def _check_cluster_locations(self) -> None:
        for flag, uri in (("--data", self.data_uri), ("--score-data", self.score_data_uri)):
            if uri and (uri.split("://", 1)[0] not in CLUSTER_DATA_SCHEMES or "://" not in uri):
                raise SettingsError(
                    f"{flag} {uri}: give a URL the cluster can read ({', '.join(CLUSTER_DATA_SCHEMES)})"
                )
        if "://" not in self.pipeline_root:
            raise SettingsError(
                f"--pipeline-root {self.pipeline_root}: give an object-store URI (gs://, s3://, minio://)"
            )
        if self.serving_model_dir.startswith("minio://"):
            # The Pusher writes through TensorFlow's file systems, which know no minio://; KFP's launcher
            # copies artifacts for the tasks, not the serving folder.
            raise SettingsError(
                f"the Pusher cannot write to {self.serving_model_dir}: give --serving-dir gs://... "
                "(or s3://... with tensorflow-io in the image)"
            )

    @property
    def accelerator_type(self) -> str:
        return self.gpu_type or DEFAULT_GPU_TYPE[self.format]

    @property
    def serving_model_dir(self) -> str:
        return self.serving_dir or f"{self.pipeline_root.rstrip('/')}/serving/{self.model_name}"

    @property
    def package_path(self) -> str:
        return self.output or os.path.splitext(configs.KFP_PACKAGE)[0] + PACKAGE_SUFFIXES[self.format][0]


@dataclasses.dataclass(frozen=True)
class KubeflowLocalSettings(KubeflowSettings):
    """`catdog kfp run-local`: the package `catdog kfp compile` writes, for a run on this machine, whose
    processes read the data, pipeline root and serving folder as local paths."""

    run_dir: str = setting(
        configs.KFP_LOCAL_OUTPUT_DIR, "run directory: the package, artifacts/, logs/, serving/", flag="--output"
    )

    def _check_cluster_locations(self) -> None:
        pass


def check_gpu_type(gpu_type: str, package_format: str) -> None:
    """Open-source KFP schedules the Trainer on a Kubernetes resource (nvidia.com/gpu); Vertex AI wants a
    machine accelerator name (NVIDIA_TESLA_T4). Either given to the other is accepted by the compiler and
    fails only when the run is scheduled."""
    if package_format == VERTEX_JSON and gpu_type not in VERTEX_GPU_TYPES:
        raise SettingsError(f"--gpu-type {gpu_type}: Vertex AI takes one of {', '.join(VERTEX_GPU_TYPES)}")
    if package_format == YAML and not _KUBERNETES_RESOURCE.match(gpu_type):
        raise SettingsError(
            f"--gpu-type {gpu_type}: Kubeflow Pipelines takes a Kubernetes resource name such as "
            f"{DEFAULT_GPU_TYPE[YAML]} (Vertex AI names go with --format {VERTEX_JSON})"
        )
