"""Compiles the pipeline for Kubeflow Pipelines 2 (KFP v2 IR YAML) or Vertex AI (PipelineJob JSON).

The same create_pipeline as the local runner; what differs is the container image, the object-store
paths, the Trainer's resources and which values stay runtime parameters.
"""

import dataclasses
import json
import os
from typing import Any, Dict

import yaml
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2
from tfx import v1 as tfx
from tfx.orchestration.kubeflow.v2 import kubeflow_v2_dag_runner

from components import evaluation
from pipeline import configs
from pipeline.pipeline import create_pipeline

YAML = "yaml"  # Kubeflow Pipelines 2: what kfp.Client uploads
VERTEX_JSON = "vertex-json"  # Vertex AI: a PipelineJob

ResourceSpec = pipeline_spec_pb2.PipelineDeploymentConfig.PipelineContainerSpec.ResourceSpec

# Every task runs this module (pipeline/kfp_entrypoint.py): TFX's executor runner, fixed for open-source KFP.
ENTRYPOINT_COMMAND = ["python", "-m", "pipeline.kfp_entrypoint"]

# Runtime parameters, set per run in the KFP UI or client. TFX takes them only as whole execution
# properties, so the accuracy gate travels inside the Evaluator's eval_config JSON. Training settings are
# compiled in: in the Trainer's custom_config dict TFX would write a parameter's description, not its value.
DATA_URI_PARAM = "data_uri"
DATA_SHA256_PARAM = "data_sha256"
EVAL_CONFIG_PARAM = "eval_config"


@dataclasses.dataclass
class KubeflowSettings:
    output: str = configs.KFP_PACKAGE
    format: str = YAML
    image: str = configs.KFP_IMAGE
    pipeline_root: str = configs.KFP_PIPELINE_ROOT
    data_uri: str = configs.DATA_URI
    data_sha256: str = ""
    serving_dir: str = ""  # "": <pipeline_root>/serving/<model_name>
    model_name: str = configs.MODEL_NAME
    eval_percent: int = configs.EVAL_PERCENT
    image_size: int = configs.IMAGE_SIZE
    min_accuracy: float = configs.MIN_ACCURACY
    train_config: dict = dataclasses.field(default_factory=dict)
    gpus: int = configs.TRAINER_GPUS  # 0: CPU only
    gpu_type: str = configs.TRAINER_GPU_TYPE
    cpus: float = configs.TRAINER_CPUS
    memory_gb: float = configs.TRAINER_MEMORY_GB

    @property
    def serving_model_dir(self) -> str:
        return self.serving_dir or f"{self.pipeline_root.rstrip('/')}/serving/{self.model_name}"


def trainer_resources(settings: KubeflowSettings) -> ResourceSpec:
    """Requests equal to limits: the Trainer's pod keeps its CPUs and memory (Vertex AI sizes machines by limits)."""
    spec = ResourceSpec(
        cpu_request=settings.cpus,
        cpu_limit=settings.cpus,
        memory_request=settings.memory_gb,
        memory_limit=settings.memory_gb,
    )
    if settings.gpus:
        spec.accelerator.type = settings.gpu_type
        spec.accelerator.count = settings.gpus
    return spec


def _runtime_parameters(settings: KubeflowSettings) -> Dict[str, Any]:
    eval_config = json.dumps(json_format.MessageToDict(evaluation.eval_config(settings.min_accuracy)), sort_keys=True)
    return {
        DATA_URI_PARAM: settings.data_uri,
        DATA_SHA256_PARAM: settings.data_sha256,
        EVAL_CONFIG_PARAM: eval_config,
    }


def build_pipeline(settings: KubeflowSettings) -> tfx.dsl.Pipeline:
    params = {name: tfx.dsl.experimental.RuntimeParameter(name=name, ptype=str, default=value)
              for name, value in _runtime_parameters(settings).items()}
    return create_pipeline(
        pipeline_name=configs.PIPELINE_NAME,
        pipeline_root=settings.pipeline_root,
        data_uri=params[DATA_URI_PARAM],
        data_sha256=params[DATA_SHA256_PARAM],
        serving_model_dir=settings.serving_model_dir,
        preprocessing_fn=configs.PREPROCESSING_FN,
        run_fn=configs.RUN_FN,
        eval_percent=settings.eval_percent,
        image_size=settings.image_size,
        train_config=settings.train_config,
        eval_config=params[EVAL_CONFIG_PARAM],
        # Vertex AI runs the latest-blessed-model resolver; open-source KFP rejects resolver nodes.
        compare_to_blessed=settings.format == VERTEX_JSON,
        trainer_resources=trainer_resources(settings),
    )


def kfp_pipeline_spec(pipeline_job: Dict[str, Any]) -> Dict[str, Any]:
    """The PipelineSpec of a PipelineJob, carrying what the job kept beside it: a YAML package holds only
    the spec, and KFP needs the parameters' defaults and the pipeline root in there."""
    spec = pipeline_job["pipelineSpec"]
    runtime = pipeline_job["runtimeConfig"]
    spec["defaultPipelineRoot"] = runtime["gcsOutputDirectory"]
    for name, value in runtime.get("parameterValues", {}).items():
        spec["root"]["inputDefinitions"]["parameters"][name]["defaultValue"] = value
    return spec


def compile_pipeline(settings: KubeflowSettings) -> str:
    """Writes the package to settings.output; returns its path."""
    runner = kubeflow_v2_dag_runner.KubeflowV2DagRunner(
        kubeflow_v2_dag_runner.KubeflowV2DagRunnerConfig(
            default_image=settings.image,
            default_commands=ENTRYPOINT_COMMAND,
            # Schema 2.1: parameter types KFP 2 reads, and each container gets its component's input
            # spec, which the entry point needs to restore artifact types.
            use_pipeline_spec_2_1=True,
        )
    )
    pipeline_job = runner.run(build_pipeline(settings), parameter_values=_runtime_parameters(settings), write_out=False)
    os.makedirs(os.path.dirname(os.path.abspath(settings.output)), exist_ok=True)
    with open(settings.output, "w") as f:
        if settings.format == VERTEX_JSON:
            json.dump(pipeline_job, f, indent=2, sort_keys=True)
        else:
            yaml.safe_dump(kfp_pipeline_spec(pipeline_job), f, sort_keys=True)
    return settings.output
