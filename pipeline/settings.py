"""Every setting of a run, declared once with its default, its help and its check.

The flags of `catdog run` and `catdog kfp compile|deploy` are generated from these dataclasses
(add_arguments), both runners hand them to create_pipeline, and the Trainer's TrainConfig inherits
TrainingSettings. A new knob is one field here. No TensorFlow import: `catdog --help` stays quick.
"""

import argparse
import dataclasses
import os
import re
import shlex
import typing
from typing import Callable, List, Optional, Tuple, Union

from components import limits, names
from components.errors import CatdogError
from pipeline import configs

# The presets components/models.py builds, named here so that the command line needs no TensorFlow
# (tests/test_models.py checks the two agree).
MODEL_PRESETS = ("tutorial", "augmented", "residual", "mobilenet")
# Measured on the tutorial data (README): mobilenet (ImageNet weights) 0.98+ in minutes; residual, the
# best from scratch, 0.906 after 80 epochs.
DEFAULT_PRESET = "mobilenet"
LR_SCHEDULES = ("constant", "cosine")
# components/distribution.py STRATEGIES (tests/test_distribution.py checks the two agree).
DISTRIBUTION_STRATEGIES = ("auto", "default", "mirrored", "multi_worker")
# Accuracy a retrained model may lose against the latest blessed one and still be pushed: the default
# recipe's seeds spread over 0.4 points (bench/results/seed_spread.json) and one standard error on the
# 1,000 validation images about 0.0045, so 0.01 passes an equally good retrain and stops a worse one.
DEFAULT_MAX_REGRESSION = 0.01

YAML = "yaml"  # Kubeflow Pipelines 2: what kfp.Client uploads
VERTEX_JSON = "vertex-json"  # Vertex AI: a PipelineJob
PACKAGE_SUFFIXES = {YAML: (".yaml", ".yml"), VERTEX_JSON: (".json",)}
# Accelerator names Vertex AI's custom jobs take (open-source KFP takes a Kubernetes resource name instead).
VERTEX_GPU_TYPES = ("NVIDIA_TESLA_T4", "NVIDIA_TESLA_V100", "NVIDIA_TESLA_P100", "NVIDIA_TESLA_P4",
                    "NVIDIA_TESLA_K80", "NVIDIA_TESLA_A100", "NVIDIA_A100_80GB", "NVIDIA_L4", "NVIDIA_H100_80GB")
DEFAULT_GPU_TYPE = {YAML: "nvidia.com/gpu", VERTEX_JSON: "NVIDIA_TESLA_T4"}
_KUBERNETES_RESOURCE = re.compile(r"^[a-z0-9]([a-z0-9.-]*[a-z0-9])?\.[a-z]+/[a-z0-9]([a-z0-9._-]*[a-z0-9])?$")
# What the ingest step can fetch from inside a pod: not a path, which would name the container's files.
CLUSTER_DATA_SCHEMES = ("http", "https", "gs", "s3", "hdfs")


class SettingsError(CatdogError):
    """A setting out of its range, or settings a runner cannot use together."""


Check = Callable[[object], Optional[str]]  # the problem with a value, or None


def at_least(low) -> Check:
    return lambda value: None if value >= low else f"must be {low} or more"


def above(low) -> Check:
    return lambda value: None if value > low else f"must be above {low}"


def between(low, high) -> Check:
    return lambda value: None if low <= value <= high else f"must be between {low} and {high}"


def plain_name(value: str) -> Optional[str]:
    """A folder name under the serving directory: nothing that could climb out of it."""
    try:
        names.plain_model_name(value)
    except CatdogError as e:
        return str(e)
    return None


def setting(default, help: str, *, flag: str = "", choices: Tuple = (), check: Optional[Check] = None, metavar=None):
    """A dataclass field that knows its flag (default: --the-field-name), help, allowed values and check."""
    return dataclasses.field(
        default=default, metadata={"help": help, "flag": flag, "choices": choices, "check": check, "metavar": metavar}
    )


def flag_of(field: dataclasses.Field) -> str:
    return field.metadata.get("flag") or "--" + field.name.replace("_", "-")


def value_type(field: dataclasses.Field):
    """The type of a field's values: Optional[int] is int (None: the model preset's recipe decides)."""
    if typing.get_origin(field.type) is Union:
        return next(t for t in typing.get_args(field.type) if t is not type(None))
    return field.type


@dataclasses.dataclass(frozen=True)
class _Checked:
    def __post_init__(self):
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if value is None:  # an optional setting left to the preset's recipe
                continue
            choices, check = field.metadata.get("choices"), field.metadata.get("check")
            problem = check(value) if check else None
            if choices and value not in choices:
                problem = f"choose from {', '.join(choices)}"
            if problem:
                raise SettingsError(f"{flag_of(field)} {value}: {problem}")


PRESET_RECIPE = "the model preset's recipe"  # the default of the settings below that are None


@dataclasses.dataclass(frozen=True)
class TrainingSettings(_Checked):
    """What the Trainer's run_fn reads (its custom_config; components.trainer.TrainConfig). The epochs and
    learning rates left at None come from the preset's measured recipe (components/models.py PRESETS)."""

    model_preset: str = setting(DEFAULT_PRESET, "model preset (components/models.py); each trains by its own "
                                                "measured recipe unless the flags below say otherwise",
                                flag="--model", choices=MODEL_PRESETS)
    backbone_weights: str = setting("", "pretrained presets (mobilenet): the backbone's Keras .h5 weights, a path "
                                        "or object-store URI (default: Keras's ImageNet weights from its cache, "
                                        "~/.keras/models, else downloaded)")
    epochs: Optional[int] = setting(None, "training epochs (pretrained presets: of the first phase, the head on "
                                          "the frozen backbone)", check=at_least(1))
    learning_rate: Optional[float] = setting(None, "Adam's initial learning rate for one replica; scaled by the "
                                                   "number of replicas", check=above(0))
    lr_schedule: Optional[str] = setting(None, "learning rate over each phase's epochs: cosine decays it to 0",
                                         choices=LR_SCHEDULES)
    fine_tune_epochs: Optional[int] = setting(None, "pretrained presets: epochs of the second phase, which also trains "
                                                    "the backbone's top blocks (0: none)", check=at_least(0))
    fine_tune_learning_rate: Optional[float] = setting(None, "pretrained presets: the second phase's initial "
                                                             "learning rate", check=above(0))
    batch_size: int = setting(20, "images a step on each replica (a GPU, or the CPU)", check=at_least(1))
    distribution_strategy: str = setting(
        "auto", "how the Trainer spreads its steps (docs/gpu.md): auto takes TF_CONFIG's cluster (multi_worker), "
                "else every local GPU (mirrored), else one device (default); mirrored named explicitly takes every "
                "logical CPU device when there is no GPU", flag="--distribution", choices=DISTRIBUTION_STRATEGIES)
    seed: int = setting(42, "seed of weights, shuffling and augmentation")
    early_stopping_patience: int = setting(
        0, "stop after N epochs without a lower validation loss and keep the best-loss weights (0: the preset's "
           "way: from scratch, every epoch and the best validation accuracy; pretrained, a fixed schedule and "
           "its last epoch)", check=at_least(0))
    deterministic: bool = setting(False, "TensorFlow op determinism: the same run twice gives the same model "
                                         "(slower on GPU)")
    train_cache_memory_share: float = setting(
        0.5, "the Trainer keeps the decoded training and validation images in memory when they fit this share of "
             "its machine's (or container's) memory, else decodes them anew every epoch, shuffling as many encoded "
             "images as the share holds", check=between(0.01, 1))


@dataclasses.dataclass(frozen=True)
class RunSettings(TrainingSettings):
    """Every knob of a pipeline run, wherever it runs."""

    data_uri: str = setting(configs.DATA_URI, "images in class folders: a zip (http(s)://, gs://, s3:// or file:// "
                                              "URL, or a path), a folder, or an object-store prefix (gs://bucket/pets/)",
                            flag="--data")
    data_sha256: str = setting("", "expected sha256 of the zip (computed for local files if omitted)",
                               flag="--sha256")
    score_data_uri: str = setting("", "images to score with the model once it is blessed (BulkInferrer): a zip as for "
                                      "--data, its files anywhere, no class folders needed", flag="--score-data")
    model_name: str = setting(configs.MODEL_NAME, "the model's name: its folder under serving/", check=plain_name)
    eval_percent: int = setting(20, "eval share when the data has class folders only", check=between(1, 99))
    keep_cross_split_duplicates: bool = setting(False, "keep eval images whose exact bytes are also in train "
                                                       "(default: left out of eval, where a photo the model "
                                                       "trained on would inflate validation accuracy)")
    download_timeout_seconds: int = setting(limits.DOWNLOAD_TIMEOUT_SECONDS, "give up a download of --data after "
                                            "this many seconds, however slowly it trickles", flag="--download-timeout",
                                            check=at_least(1))
    image_size: int = setting(150, "side of the square model input, in pixels", check=at_least(8))
    min_accuracy: float = setting(0.70, "validation accuracy a model needs to be pushed", check=between(0, 1))
    max_regression: float = setting(
        DEFAULT_MAX_REGRESSION, "accuracy (0-1) a model may lose against the latest blessed one and still be pushed",
        check=between(0, 1))
    schema_file: str = setting("", "schema.pbtxt the data must match (default: the one the first successful "
                                   "local run kept under <output>/schema/; none: infer it)")
    allow_anomalies: bool = setting(False, "train even when ExampleValidator finds anomalies against the schema")
    beam_pipeline_args: Tuple[str, ...] = setting(
        (), "Beam pipeline options for every Beam-powered component: repeatable, several in one quoted string "
            "or one each, e.g. --beam-arg='--runner=DataflowRunner --project=P' or --beam-arg --direct_num_workers=2",
        flag="--beam-arg", metavar="ARG")

    def train_config(self) -> dict:
        """The Trainer's custom_config."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(TrainingSettings)}


@dataclasses.dataclass(frozen=True)
class LocalRunSettings(RunSettings):
    output_dir: str = setting(configs.OUTPUT_DIR, "run directory: artifacts, metadata, serving/", flag="--output")
    enable_cache: bool = setting(True, "recompute every component", flag="--no-cache")


@dataclasses.dataclass(frozen=True)
class KubeflowSettings(RunSettings):
    output: str = setting("", f"package file to write (default: {configs.KFP_PACKAGE}, .json for vertex-json)")
    format: str = setting(YAML, "yaml: Kubeflow Pipelines 2 (kfp.Client); vertex-json: a Vertex AI PipelineJob, "
                                "whose Evaluator also compares with the latest blessed model",
                          choices=tuple(PACKAGE_SUFFIXES))
    image: str = setting(configs.KFP_IMAGE, "container image built from the Dockerfile")
    pipeline_root: str = setting(configs.KFP_PIPELINE_ROOT, "artifact store: gs://, s3:// or minio:// (KFP's own)")
    serving_dir: str = setting("", "where the Pusher puts model versions (default: <pipeline-root>/serving/<model-name>)")
    gpus: int = setting(1, "GPUs for the Trainer (0: CPU only)", check=at_least(0))
    gpu_type: str = setting("", f"GPU type: on KFP a Kubernetes resource (default {DEFAULT_GPU_TYPE[YAML]}), on "
                                f"Vertex AI a model name (default {DEFAULT_GPU_TYPE[VERTEX_JSON]})")
    cpus: float = setting(4.0, "CPUs for the Trainer", check=above(0))
    memory_gb: float = setting(16.0, "memory for the Trainer, GB", check=above(0))
    workers: int = setting(1, "machines the Trainer trains on together (MultiWorkerMirroredStrategy, docs/gpu.md): "
                              "above 1, Vertex AI Training runs a chief and workers-1 workers, each with --gpus "
                              f"(--format {VERTEX_JSON} only: open-source KFP runs the Trainer in one pod)",
                           check=at_least(1))
    vertex_project: str = setting("", "--workers above 1: the Google Cloud project Vertex AI Training runs them in")
    vertex_region: str = setting("us-central1", "--workers above 1: the region of Vertex AI Training")
    machine_type: str = setting("n1-standard-8", "--workers above 1: each worker's Compute Engine machine type")

    def __post_init__(self):
        super().__post_init__()
        suffixes = PACKAGE_SUFFIXES[self.format]
        if self.output and not self.output.endswith(suffixes):
            raise SettingsError(f"--output {self.output}: a {self.format} package ends with {' or '.join(suffixes)}")
        for flag, uri in (("--data", self.data_uri), ("--score-data", self.score_data_uri)):
            if uri and (uri.split("://", 1)[0] not in CLUSTER_DATA_SCHEMES or "://" not in uri):
                raise SettingsError(f"{flag} {uri}: give a URL the cluster can read ({', '.join(CLUSTER_DATA_SCHEMES)})")
        if "://" not in self.pipeline_root:
            raise SettingsError(f"--pipeline-root {self.pipeline_root}: give an object-store URI (gs://, s3://, minio://)")
        if self.serving_model_dir.startswith("minio://"):
            # The Pusher writes through TensorFlow's file systems, which know no minio://; KFP's launcher
            # copies artifacts for the tasks, not the serving folder.
            raise SettingsError(f"the Pusher cannot write to {self.serving_model_dir}: give --serving-dir gs://... "
                                "(or s3://... with tensorflow-io in the image)")
        if self.gpus:
            check_gpu_type(self.accelerator_type, self.format)
        if self.workers > 1 and self.format != VERTEX_JSON:
            raise SettingsError(f"--workers {self.workers}: open-source Kubeflow Pipelines runs the Trainer in one "
                                f"pod; several machines train on Vertex AI Training (--format {VERTEX_JSON})")
        if self.workers > 1 and not self.vertex_project:
            raise SettingsError(f"--workers {self.workers}: give --vertex-project, the Google Cloud project whose "
                                "Vertex AI Training runs the workers")

    @property
    def accelerator_type(self) -> str:
        return self.gpu_type or DEFAULT_GPU_TYPE[self.format]

    @property
    def serving_model_dir(self) -> str:
        return self.serving_dir or f"{self.pipeline_root.rstrip('/')}/serving/{self.model_name}"

    @property
    def package_path(self) -> str:
        return self.output or os.path.splitext(configs.KFP_PACKAGE)[0] + PACKAGE_SUFFIXES[self.format][0]


def check_gpu_type(gpu_type: str, package_format: str) -> None:
    """Open-source KFP schedules the Trainer on a Kubernetes resource (nvidia.com/gpu); Vertex AI wants a
    machine accelerator name (NVIDIA_TESLA_T4). Either given to the other is accepted by the compiler and
    fails only when the run is scheduled."""
    if package_format == VERTEX_JSON and gpu_type not in VERTEX_GPU_TYPES:
        raise SettingsError(f"--gpu-type {gpu_type}: Vertex AI takes one of {', '.join(VERTEX_GPU_TYPES)}")
    if package_format == YAML and not _KUBERNETES_RESOURCE.match(gpu_type):
        raise SettingsError(f"--gpu-type {gpu_type}: Kubeflow Pipelines takes a Kubernetes resource name such as "
                            f"{DEFAULT_GPU_TYPE[YAML]} (Vertex AI names go with --format {VERTEX_JSON})")


def add_arguments(parser: argparse.ArgumentParser, settings_type, skip: Tuple[str, ...] = ()) -> None:
    """One flag a field of settings_type, with the field's default and help."""
    for field in dataclasses.fields(settings_type):
        if field.name in skip:
            continue
        kwargs = {"dest": field.name, "help": field.metadata["help"]}
        if field.type is bool:
            # A flag turns the default around: --deterministic, --no-cache.
            kwargs.update(action="store_false" if field.default else "store_true")
        elif field.type == Tuple[str, ...]:
            kwargs.update(action="append", default=[], metavar=field.metadata["metavar"])
        else:
            kwargs.update(type=value_type(field), default=field.default, choices=field.metadata["choices"] or None)
            if not field.metadata["choices"]:
                kwargs["metavar"] = flag_of(field).lstrip("-").replace("-", "_").upper()
            if field.default != "":
                kwargs["help"] += f" (default: {PRESET_RECIPE if field.default is None else field.default})"
        parser.add_argument(flag_of(field), **kwargs)


def split_arguments(values) -> Tuple[str, ...]:
    """Each value split the way a shell would: one flag can carry several arguments in one string."""
    return tuple(arg for value in values for arg in shlex.split(value))


def attach_option_values(argv: List[str]) -> List[str]:
    """`--beam-arg --runner=X` as `--beam-arg=--runner=X`: argparse takes a value that starts with '-'
    for an option of its own, and users write it the first way."""
    flags = {flag_of(f) for f in dataclasses.fields(RunSettings) if f.type == Tuple[str, ...]}
    out = []
    for arg in argv:
        if out and out[-1] in flags:
            out[-1] = f"{out[-1]}={arg}"
        else:
            out.append(arg)
    return out


def from_args(settings_type, args: argparse.Namespace, **fixed):
    """The settings the parsed flags (and fixed values) give; raises SettingsError for a bad value."""
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(settings_type) if hasattr(args, f.name)}
    values.update(fixed)
    for field in dataclasses.fields(settings_type):
        if field.type == Tuple[str, ...] and field.name in values:
            values[field.name] = split_arguments(values[field.name])
    return settings_type(**values)
