"""`catdog kfp run-local`'s project side: compiles the package into the run directory, has KFP's local runner
execute that file in the side environment (.venv-kfp, pipeline/kfp_local_driver.py), and summarizes the run
from the artifacts its tasks output."""

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

from components.errors import CatdogError
from pipeline import configs
from pipeline.settings import KubeflowLocalSettings

REPO = Path(__file__).resolve().parents[1]
SIDE_ENV = REPO / ".venv-kfp"
DRIVER = Path(__file__).with_name("kfp_local_driver.py")
RESULT_FILE = "kfp_local_run.json"  # the driver's record: every task's state, seconds, log and outputs
DRIVER_LOG = "kfp_local.log"  # under logs/: kfp.local's own log (the driver's DRIVER_LOG), then the driver's errors
LOG_TAIL_LINES = 30


class KfpLocalError(CatdogError):
    """No side environment, or a package KFP's local runner cannot run."""


@dataclasses.dataclass
class TaskRecord:
    name: str
    state: str
    seconds: float
    log: str
    outputs: dict[str, dict]


@dataclasses.dataclass
class LocalRun:
    state: str  # SUCCEEDED or FAILED
    package: str
    tasks: list[TaskRecord]
    driver_log: str

    @property
    def failed(self) -> TaskRecord | None:
        return next((t for t in self.tasks if t.state != "SUCCEEDED"), None)

    def output(self, task: str, key: str) -> dict:
        """{"uri", "metadata"} of a task's output artifact; {} when the task did not run or output it."""
        record = next((t for t in self.tasks if t.name == task), None)
        return record.outputs.get(key, {}) if record else {}


def local_settings(settings: KubeflowLocalSettings) -> KubeflowLocalSettings:
    """The settings with the package, pipeline root and serving folder under the run directory."""
    run_dir = os.path.abspath(settings.run_dir)
    suffix = ".json" if settings.format == "vertex-json" else ".yaml"
    data_uri = settings.data_uri if "://" in settings.data_uri else os.path.abspath(settings.data_uri)
    sha256 = settings.data_sha256
    if not sha256 and os.path.isfile(data_uri):
        from components.ingest import fetch

        sha256 = fetch.sha256_of(data_uri)  # as `catdog run` does: pinned in the run's parameters
    return dataclasses.replace(
        settings,
        run_dir=run_dir,
        data_uri=data_uri,
        data_sha256=sha256,
        output=os.path.join(run_dir, os.path.splitext(os.path.basename(configs.KFP_PACKAGE))[0] + suffix),
        pipeline_root=os.path.join(run_dir, configs.PIPELINE_ROOT_SUBDIR),
        serving_dir=os.path.join(run_dir, configs.SERVING_SUBDIR, settings.model_name),
    )


def side_env_python() -> str:
    """The side environment's interpreter, made (or brought up to its lock file) by the setup script."""
    setup = REPO / "scripts" / "setup.sh"
    if not setup.is_file():
        raise KfpLocalError(f"no {setup}: catdog kfp run-local runs from a checkout of the project")
    subprocess.run(["bash", str(setup), "kfp"], check=True, stdout=sys.stderr)
    return str(SIDE_ENV / "bin" / "python")


def execute(package: str, run_dir: str, side_python: str) -> LocalRun:
    """Runs the package under kfp.local, a line per task as it starts and ends."""
    logs = os.path.join(run_dir, "logs")
    os.makedirs(logs, exist_ok=True)
    result_path = os.path.join(run_dir, RESULT_FILE)
    driver_log = os.path.join(logs, DRIVER_LOG)
    command = [
        side_python,
        str(DRIVER),
        "--package",
        package,
        "--pipeline-root",
        os.path.join(run_dir, configs.PIPELINE_ROOT_SUBDIR),
        "--python-bin",
        os.path.dirname(sys.executable),
        "--logs",
        logs,
        "--result",
        result_path,
    ]
    # The side environment must not see this one's: its python and kfp are its own.
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
    if os.path.exists(result_path):
        os.remove(result_path)
    errors_log = os.path.join(logs, "kfp_local_driver.err")
    with open(errors_log, "w") as errors:
        subprocess.run(command, stdout=sys.stdout, stderr=errors, env=env)
    if not os.path.exists(result_path):
        raise KfpLocalError(f"KFP's local runner failed: see {errors_log}:\n" + tail(errors_log))
    with open(result_path) as f:
        result = json.load(f)
    if result["unsupported"]:
        raise KfpLocalError(
            f"{package}: KFP's local runner cannot run the tasks {', '.join(result['unsupported'])}: "
            "it runs container and importer executors only (see docs/kubeflow.md)"
        )
    tasks = [TaskRecord(name, t["state"], t["seconds"], t["log"], t["outputs"]) for name, t in result["tasks"].items()]
    run = LocalRun(result["state"], package, tasks, driver_log)
    if run.state != "SUCCEEDED" and run.failed is None:  # kfp.local stopped between tasks
        raise KfpLocalError(
            f"KFP's local runner stopped after {len(tasks)} of {len(result['task_names'])} tasks: "
            f"see {driver_log} and {errors_log}:\n" + tail(errors_log)
        )
    return run


def tail(path: str, lines: int = LOG_TAIL_LINES) -> str:
    with open(path, errors="replace") as f:
        return "".join(f.readlines()[-lines:])


def run_local(settings: KubeflowLocalSettings) -> LocalRun:
    """Compiles the package into the run directory and runs that file."""
    from pipeline.kubeflow_runner import compile_pipeline

    settings = local_settings(settings)
    side_python = side_env_python()
    package = compile_pipeline(settings)
    print(f"wrote {package}", flush=True)
    return execute(package, settings.run_dir, side_python)
