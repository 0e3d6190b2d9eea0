"""Runs a compiled package under KFP's local runner (kfp.local), each task's container command as a process.

Run by the side environment (.venv-kfp: kfp >= 2.7 and nothing of TFX or this project), as a script:
    python pipeline/kfp_local_driver.py --package P --pipeline-root DIR --python-bin DIR --logs DIR --result FILE
It imports only kfp (with protobuf and yaml, its own dependencies) and the standard library. KFP's code
orchestrates the DAG, builds every task's executor input, resolves the command's placeholders and reads the
executor output; what this module replaces is the container runtime (DockerTaskHandler) and where kfp.local
names a task's folder. docs/kubeflow.md lists it.
"""

import argparse
import contextlib
import json
import os
import subprocess
import sys
import time
from typing import Any
from unittest import mock

from google.protobuf import json_format
from kfp import local
from kfp.dsl import utils as dsl_utils
from kfp.local import (
    executor_input_utils,
    pipeline_orchestrator,
    status,
    subprocess_task_handler,
    task_dispatcher,
    task_handler_interface,
)
from kfp.pipeline_spec import pipeline_spec_pb2

SUCCEEDED, FAILED, NOT_RUN = "SUCCEEDED", "FAILED", "NOT_RUN"
COMMAND_SUFFIX = ".command.json"  # beside each task's log: the command it ran, placeholders resolved
LOG_SUFFIX = ".log"
DRIVER_LOG = "kfp_local.log"


class TaskLog:
    """Where the running task writes: kfp.local hands a task handler its command, not its task's name."""

    logs_dir = ""
    task = ""

    @classmethod
    def path(cls, suffix: str) -> str:
        return os.path.join(cls.logs_dir, cls.task + suffix)


class ProjectEnvTaskHandler(task_handler_interface.ITaskHandler):
    """A task's container command, run as a process of this machine instead of in the image.

    The image is this project (Dockerfile): its `python` is the project's environment, put first on PATH
    here, and the command runs exactly as KFP resolved it. Like DockerTaskHandler, the container's env
    variables are set and the output goes to the task's log; unlike it, there is no isolation: resources,
    accelerators and the image's other files are not applied (kfp.local ignores resources too)."""

    python_bin = ""  # the project environment's bin folder

    def __init__(self, image: str, full_command: list[str], pipeline_root: str, runner, env_vars=None) -> None:
        self.image = image
        self.full_command = full_command
        self.pipeline_root = pipeline_root
        self.env_vars = dict(env_vars or {})

    def environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONHOME")}
        env.update(self.env_vars)
        env["PATH"] = os.pathsep.join([self.python_bin, env.get("PATH", "")])
        return env

    def run(self) -> status.Status:
        with open(TaskLog.path(COMMAND_SUFFIX), "w") as f:
            json.dump({"image": self.image, "command": self.full_command, "env": self.env_vars}, f, indent=1)
        with open(TaskLog.path(LOG_SUFFIX), "w") as log:
            returncode = subprocess.call(
                self.full_command,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.environment(),
                cwd=self.pipeline_root,
            )
        return status.Status.SUCCESS if returncode == 0 else status.Status.FAILURE


def task_resource_name(component_name: str) -> str:
    """kfp.local drops the first five characters of every component name, the "comp-" of KFP's compiler
    (executor_input_utils.get_local_task_resource_name). TFX names components by node id (Trainer,
    ImageExampleGen): cut blindly, ImageExampleGen and ScoreExampleGen would share one folder."""
    prefix = dsl_utils.COMPONENT_NAME_PREFIX
    return component_name[len(prefix) :] if component_name.startswith(prefix) else component_name


def _artifact_record(artifact) -> dict[str, Any]:
    return {"uri": artifact.uri, "metadata": dict(artifact.metadata)}


def _outputs_record(outputs: dict[str, Any]) -> dict[str, Any]:
    record = {}
    for key, value in outputs.items():
        if isinstance(value, list):
            record[key] = [_artifact_record(a) for a in value]
        elif hasattr(value, "uri"):
            record[key] = _artifact_record(value)
        else:
            record[key] = value
    return record


class TaskRecorder:
    """Wraps kfp.local's dispatch of one container task: a line as it starts and ends, its outputs kept."""

    def __init__(self, dispatch, console):
        self.dispatch = dispatch
        self.console = console
        self.tasks: dict[str, dict[str, Any]] = {}

    def __call__(self, **kwargs):
        name = task_resource_name(kwargs["component_name"])
        TaskLog.task = name
        print(f"task {name}: started", file=self.console, flush=True)
        start = time.monotonic()
        outputs, task_status = self.dispatch(**kwargs)
        seconds = time.monotonic() - start
        state = SUCCEEDED if task_status == status.Status.SUCCESS else FAILED
        print(f"task {name}: {state} in {seconds:.1f} s", file=self.console, flush=True)
        self.tasks[name] = {
            "state": state,
            "seconds": round(seconds, 2),
            "log": TaskLog.path(LOG_SUFFIX),
            "command": TaskLog.path(COMMAND_SUFFIX),
            "outputs": _outputs_record(outputs),
        }
        return outputs, task_status


def load_package(path: str):
    """(PipelineSpec, arguments): a KFP YAML package's spec with its defaults, or a Vertex AI PipelineJob's spec
    and its runtimeConfig's parameter values (which Vertex AI passes as the run's arguments)."""
    with open(path) as f:
        text = f.read()
    if path.endswith(".json"):
        job = json.loads(text)
        spec, arguments = job["pipelineSpec"], job.get("runtimeConfig", {}).get("parameterValues", {})
    else:
        import yaml  # kfp's own dependency

        spec, arguments = yaml.safe_load(text), {}
    return json_format.ParseDict(spec, pipeline_spec_pb2.PipelineSpec()), arguments


def unsupported_tasks(pipeline_spec: pipeline_spec_pb2.PipelineSpec) -> list[str]:
    """Tasks whose executor kfp.local cannot run: it takes container and importer executors only
    (kfp/local/orchestrator/task_executor.py, "Got unknown spec in ExecutorSpec"). TFX compiles a Resolver
    (--format vertex-json's latest-blessed-model resolver) into `resolver` executors, ML Metadata queries
    only Vertex AI answers; KFP's backend rejects them as well (backend/src/v2/compiler/argocompiler/argo.go,
    "resolver not implemented yet")."""
    executors = pipeline_spec.deployment_spec["executors"]
    found = []
    for name, task in pipeline_spec.root.dag.tasks.items():
        label = pipeline_spec.components[task.component_ref.name].executor_label
        kind = next(iter(executors[label].keys()), "") if label in executors else ""
        if kind not in ("container", "importer"):
            found.append(f"{name} ({kind or 'no executor'})")
    return sorted(found)


@contextlib.contextmanager
def project_env_runner(python_bin: str, logs_dir: str, recorder: TaskRecorder):
    """kfp.local with this module's task handler, folder names and recorder in place."""
    ProjectEnvTaskHandler.python_bin = python_bin
    TaskLog.logs_dir = logs_dir
    # The dispatcher looks the handler class up by runner type in a map it builds per task
    # (task_dispatcher.run_single_task_implementation): the SubprocessRunner's entry is the one to replace.
    with (
        mock.patch.object(subprocess_task_handler, "SubprocessTaskHandler", ProjectEnvTaskHandler),
        mock.patch.object(executor_input_utils, "get_local_task_resource_name", task_resource_name),
        mock.patch.object(task_dispatcher, "run_single_task_implementation", recorder),
    ):
        yield


def run(
    package: str, pipeline_root: str, python_bin: str, logs_dir: str, arguments: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Runs the package's pipeline; returns {"state", "tasks": {name: record}, "unsupported", "task_names"}.
    A line per task as it starts and ends goes to stdout, kfp.local's own log (it writes to stdout) to
    <logs_dir>/kfp_local.log."""
    pipeline_spec, package_arguments = load_package(package)
    unsupported = unsupported_tasks(pipeline_spec)
    tasks = list(pipeline_spec.root.dag.tasks)
    if unsupported:
        return {"state": NOT_RUN, "tasks": {}, "unsupported": unsupported, "task_names": tasks}
    for folder in (logs_dir, pipeline_root):
        os.makedirs(folder, exist_ok=True)
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=pipeline_root, raise_on_error=False)
    recorder = TaskRecorder(task_dispatcher.run_single_task_implementation, sys.stdout)
    with (
        open(os.path.join(logs_dir, DRIVER_LOG), "w") as log,
        contextlib.redirect_stdout(log),
        project_env_runner(python_bin, logs_dir, recorder),
    ):
        pipeline_orchestrator.run_local_pipeline(pipeline_spec, {**package_arguments, **(arguments or {})})
    failed = [name for name, task in recorder.tasks.items() if task["state"] == FAILED]
    state = FAILED if failed or len(recorder.tasks) < len(tasks) else SUCCEEDED
    return {"state": state, "tasks": recorder.tasks, "unsupported": [], "task_names": tasks}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--package", required=True, help="compiled package: KFP YAML or Vertex AI PipelineJob JSON")
    parser.add_argument("--pipeline-root", required=True, help="local folder for the tasks' artifacts")
    parser.add_argument("--python-bin", required=True, help="bin folder of the environment the image would be")
    parser.add_argument("--logs", required=True, help="folder for each task's log and resolved command")
    parser.add_argument("--result", required=True, help="JSON file to write the run's record to")
    parser.add_argument("--arguments", default="{}", help="the run's parameter values, a JSON object")
    args = parser.parse_args(argv)
    result = run(
        args.package,
        os.path.abspath(args.pipeline_root),
        os.path.abspath(args.python_bin),
        os.path.abspath(args.logs),
        json.loads(args.arguments),
    )
    with open(args.result, "w") as f:
        json.dump(result, f, indent=1)
    return 0 if result["state"] == SUCCEEDED else 1


if __name__ == "__main__":
    sys.exit(main())
