"""Beam's own portable services on loopback ports, from this environment: the Python job service (the job API
that Flink's and Spark's job servers and Dataflow Runner v2 also speak) and an external worker pool that
starts SDK workers as processes of this environment's python."""

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

READY_SECONDS = 120
# The launcher's job-state stream carries this deadline (Beam's PortableRunner: JobServiceHandle.run): a job
# that outlasts it fails with DEADLINE_EXCEEDED. Beam's default, 60 s, is shorter than a Beam component's
# job on a busy 2-core machine.
JOB_SERVER_TIMEOUT_SECONDS = 3600


# The Beam-powered components of the pipeline without --score-data, one job each: StatisticsGen, Transform,
# Evaluator and the ImageExampleGen.
BEAM_COMPONENTS = 4


def jobs_and_workers(log_dir: Path) -> tuple[set[str], set[str]]:
    """The jobs the job service ran and the SDK workers the pool started, from their logs in log_dir."""
    jobs = set(re.findall(r"Running job '([^']+)'", (log_dir / "job_service.log").read_text()))
    workers = set(re.findall(r"worker_id=\"([^\"]+)\"", (log_dir / "worker_pool.log").read_text()))
    return jobs, workers


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_port(port: int, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args} exited with {process.returncode}: {log.read_text()[-2000:]}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.5)
    raise TimeoutError(f"{process.args} did not listen on port {port} within {READY_SECONDS} s")


def _stop(process: subprocess.Popen) -> None:
    """The service and the SDK workers it started: its own process group."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@contextlib.contextmanager
def portable_runner(log_dir: Path) -> Iterator[list[str]]:
    """Starts the job service and the worker pool; yields the --beam-arg value that sends jobs to them."""
    job_port, pool_port = _free_port(), _free_port()
    # The pool starts each worker as `python -m apache_beam.runners.worker.sdk_worker_main`: this environment's,
    # with the image's Keras 2 setting (Dockerfile: the Evaluator's workers load the model before any TFT import).
    env = dict(
        os.environ,
        PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
        TF_USE_LEGACY_KERAS="1",
    )
    commands = {
        "job_service": [
            sys.executable,
            "-m",
            "apache_beam.runners.portability.local_job_service_main",
            "--port",
            str(job_port),
        ],
        "worker_pool": [
            sys.executable,
            "-m",
            "apache_beam.runners.worker.worker_pool_main",
            "--service_port",
            str(pool_port),
        ],
    }
    processes = []
    try:
        for (name, command), port in zip(commands.items(), (job_port, pool_port), strict=False):
            log = log_dir / f"{name}.log"
            with open(log, "w") as out:
                processes.append(
                    subprocess.Popen(
                        command,
                        stdout=out,
                        stderr=subprocess.STDOUT,
                        env=env,
                        stdin=subprocess.DEVNULL,
                        start_new_session=True,
                    )
                )
            _wait_for_port(port, processes[-1], log)
        yield [
            f"--runner=PortableRunner --job_endpoint=localhost:{job_port} --environment_type=EXTERNAL "
            f"--environment_config=localhost:{pool_port} --job_server_timeout={JOB_SERVER_TIMEOUT_SECONDS}"
        ]
    finally:
        for process in processes:
            _stop(process)
