"""Every task's command on Kubeflow: TFX's Kubeflow V2 executor runner, fitted to open-source KFP v2.

TFX writes that runner for Vertex AI Pipelines. Open-source KFP hands the container less:
1. Its driver leaves out the type (instanceSchema) of input artifacts read back from ML Metadata, and TFX
   then builds generic artifacts without split_names and the other properties. The component's input spec
   (on the command line with pipeline spec 2.1) names every input's type: it is copied onto the artifacts.
2. Its launcher copies artifacts between the object store and local folders (/minio/..., /s3/..., /gcs/...)
   around the command, and TensorFlow cannot open minio:// at all. The executor is given those folders,
   and the executor output names the artifacts by their remote URIs again.
On Vertex AI the types are already there and the folders are not, so both steps leave the input as it is.
"""

import os

from absl import app
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2
from tfx.dsl.io import fileio

# Private to TFX: pinned with tfx==1.16, where the flags and _run_executor(args, beam_args) are as used here.
from tfx.orchestration.kubeflow.v2.container import kubeflow_v2_run_executor

# Where KFP's launcher keeps each object store's artifacts (LocalPathForURI in its launcher_v2.go).
LAUNCHER_FOLDERS = {"gs://": "gcs", "minio://": "minio", "s3://": "s3"}


def fill_input_types(
    executor_input: pipeline_spec_pb2.ExecutorInput, inputs_spec: pipeline_spec_pb2.ComponentInputsSpec
) -> None:
    """The compiled input spec is the authority on types: it comes from the component the executor belongs to."""
    for name, artifact_list in executor_input.inputs.artifacts.items():
        if name in inputs_spec.artifacts:
            for artifact in artifact_list.artifacts:
                artifact.type.CopyFrom(inputs_spec.artifacts[name].artifact_type)


def launcher_path(uri: str, root: str = "/") -> str:
    """The local folder KFP's launcher syncs with uri, or "" for a URI it does not sync."""
    for scheme, folder in LAUNCHER_FOLDERS.items():
        if uri.startswith(scheme):
            return os.path.join(root, folder, uri[len(scheme) :])
    return ""


def use_launcher_folders(executor_input: pipeline_spec_pb2.ExecutorInput, root: str = "/") -> dict[str, str]:
    """Points artifacts at the launcher's local copies where it made them; returns {local path: remote URI}."""
    remote_of = {}
    for artifact_lists in (executor_input.inputs.artifacts, executor_input.outputs.artifacts):
        for artifact_list in artifact_lists.values():
            for artifact in artifact_list.artifacts:
                local = launcher_path(artifact.uri, root)
                # The launcher downloads inputs and makes the parent folder of outputs before the command.
                if local and os.path.isdir(os.path.dirname(local)):
                    remote_of[local] = artifact.uri
                    artifact.uri = local
    return remote_of


def restore_remote_uris(output_file: str, remote_of: dict[str, str]) -> None:
    """The launcher takes a URI in the executor output as the artifact's new location: give the remote one."""
    if not remote_of or not fileio.exists(output_file):
        return
    executor_output = pipeline_spec_pb2.ExecutorOutput()
    with fileio.open(output_file, "r") as f:
        json_format.Parse(f.read(), executor_output, ignore_unknown_fields=True)
    for artifact_list in executor_output.artifacts.values():
        for artifact in artifact_list.artifacts:
            artifact.uri = remote_of.get(artifact.uri, artifact.uri)
    with fileio.open(output_file, "w") as f:
        f.write(json_format.MessageToJson(executor_output))


def run_executor(args, beam_args: list[str], launcher_root: str = "/") -> None:
    """args and beam_args as kubeflow_v2_run_executor parses them."""
    executor_input = pipeline_spec_pb2.ExecutorInput()
    json_format.Parse(args.json_serialized_invocation_args, executor_input, ignore_unknown_fields=True)
    if getattr(args, "json_serialized_inputs_spec_args", None):
        inputs_spec = pipeline_spec_pb2.ComponentInputsSpec()
        json_format.Parse(args.json_serialized_inputs_spec_args, inputs_spec, ignore_unknown_fields=True)
        fill_input_types(executor_input, inputs_spec)
    remote_of = use_launcher_folders(executor_input, launcher_root)
    args.json_serialized_invocation_args = json_format.MessageToJson(executor_input)
    kubeflow_v2_run_executor._run_executor(args, beam_args)  # pylint: disable=protected-access
    restore_remote_uris(executor_input.outputs.output_file, remote_of)


def _main(parsed: tuple) -> None:
    run_executor(*parsed)


if __name__ == "__main__":
    app.run(_main, flags_parser=kubeflow_v2_run_executor._parse_flags)  # pylint: disable=protected-access
