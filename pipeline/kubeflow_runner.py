"""Compiles the pipeline for Kubeflow Pipelines 2 (KFP v2 IR YAML) or Vertex AI (PipelineJob JSON).

The same create_pipeline as the local runner; what differs is the container image, the object-store
paths, the Trainer's resources and which values stay runtime parameters.
"""

import json
import os
from typing import Any

import yaml
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2
from tfx import v1 as tfx
from tfx.orchestration.kubeflow.v2 import kubeflow_v2_dag_runner

from components import evaluation
from pipeline.pipeline import create_pipeline
from pipeline.settings import VERTEX_JSON, KubeflowSettings

ResourceSpec = pipeline_spec_pb2.PipelineDeploymentConfig.PipelineContainerSpec.ResourceSpec

# Every task runs this module (pipeline/kfp_entrypoint.py): TFX's executor runner, fixed for open-source KFP.
ENTRYPOINT_COMMAND = ["python", "-m", "pipeline.kfp_entrypoint"]

# Runtime parameters, set per run in the KFP UI or client. TFX takes them only as whole execution
# properties, so the accuracy gate travels inside the Evaluator's eval_config JSON. Training settings are
# compiled in: in the Trainer's custom_config dict TFX would write a parameter's description, not its value.
DATA_URI_PARAM = "data_uri"
DATA_SHA256_PARAM = "data_sha256"
EVAL_CONFIG_PARAM = "eval_config"


# With several workers the pipeline's Trainer task only starts Vertex AI Training's job and waits for it.
LAUNCHER_CPUS = 1.0
LAUNCHER_MEMORY_GB = 2.0


def trainer_resources(settings: KubeflowSettings) -> ResourceSpec:
    """Requests equal to limits: the Trainer's pod keeps its CPUs and memory (Vertex AI sizes machines by limits)."""
    if settings.workers > 1:
        return ResourceSpec(
            cpu_request=LAUNCHER_CPUS,
            cpu_limit=LAUNCHER_CPUS,
            memory_request=LAUNCHER_MEMORY_GB,
            memory_limit=LAUNCHER_MEMORY_GB,
        )
    spec = ResourceSpec(
        cpu_request=settings.cpus,
        cpu_limit=settings.cpus,
        memory_request=settings.memory_gb,
        memory_limit=settings.memory_gb,
    )
    if settings.gpus:
        spec.accelerator.type = settings.accelerator_type
        spec.accelerator.count = settings.gpus
    return spec


def vertex_training(settings: KubeflowSettings) -> dict[str, Any] | None:
    """With several workers: what TFX's Google Cloud Trainer adds to the Trainer's custom_config, a Vertex AI
    CustomJob of two worker pools, the chief (pool 0) and the other workers, each machine with the GPU request.
    Vertex AI gives each replica a TF_CONFIG naming its pool (chief, worker), which run_fn's auto strategy reads."""
    if settings.workers == 1:
        return None
    machine = {"machine_type": settings.machine_type}
    if settings.gpus:
        machine.update(accelerator_type=settings.accelerator_type, accelerator_count=settings.gpus)

    def pool(replicas: int) -> dict[str, Any]:
        # TFX sets the command (its executor runner); the image is the project's, which has run_fn.
        return {"machine_spec": machine, "replica_count": replicas, "container_spec": {"image_uri": settings.image}}

    cloud = tfx.extensions.google_cloud_ai_platform
    return {
        cloud.ENABLE_VERTEX_KEY: True,
        cloud.VERTEX_REGION_KEY: settings.vertex_region,
        cloud.TRAINING_ARGS_KEY: {
            "project": settings.vertex_project,
            "job_spec": {"worker_pool_specs": [pool(1), pool(settings.workers - 1)]},
        },
    }


def _runtime_parameters(settings: KubeflowSettings) -> dict[str, Any]:
    eval_config = evaluation.eval_config(settings.min_accuracy, settings.max_regression)
    eval_config = json.dumps(json_format.MessageToDict(eval_config), sort_keys=True)
    return {
        DATA_URI_PARAM: settings.data_uri,
        DATA_SHA256_PARAM: settings.data_sha256,
        EVAL_CONFIG_PARAM: eval_config,
    }


def build_pipeline(settings: KubeflowSettings) -> tfx.dsl.Pipeline:
    params = {
        name: tfx.dsl.experimental.RuntimeParameter(name=name, ptype=str, default=value)
        for name, value in _runtime_parameters(settings).items()
    }
    return create_pipeline(
        settings,
        pipeline_root=settings.pipeline_root,
        serving_model_dir=settings.serving_model_dir,
        data_uri=params[DATA_URI_PARAM],
        data_sha256=params[DATA_SHA256_PARAM],
        eval_config=params[EVAL_CONFIG_PARAM],
        # Vertex AI runs the latest-blessed-model resolver; open-source KFP rejects resolver nodes.
        compare_to_blessed=settings.format == VERTEX_JSON,
        trainer_resources=trainer_resources(settings),
        trainer_cloud_config=vertex_training(settings),
    )


def kfp_pipeline_spec(pipeline_job: dict[str, Any]) -> dict[str, Any]:
    """The PipelineSpec of a PipelineJob, carrying what the job kept beside it: a YAML package holds only
    the spec, and KFP needs the parameters' defaults and the pipeline root in there."""
    spec = pipeline_job["pipelineSpec"]
    runtime = pipeline_job["runtimeConfig"]
    spec["defaultPipelineRoot"] = runtime["gcsOutputDirectory"]
    for name, value in runtime.get("parameterValues", {}).items():
        spec["root"]["inputDefinitions"]["parameters"][name]["defaultValue"] = value
    return spec


def compile_pipeline(settings: KubeflowSettings) -> str:
    """Writes the package to settings.package_path; returns its path."""
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
    path = settings.package_path
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        if settings.format == VERTEX_JSON:
            json.dump(pipeline_job, f, indent=2, sort_keys=True)
        else:
            yaml.safe_dump(kfp_pipeline_spec(pipeline_job), f, sort_keys=True)
    return path
