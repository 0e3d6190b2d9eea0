"""Every ```sh block of the README runs, in order, as a newcomer would paste it, so none can rot: in a folder
holding what the examples name (pets.zip and new_photos.zip: the session's generated data; cat.jpg, dog.jpg;
runs/catdog: a copy of the session's pipeline run). What this machine cannot do is swapped, and only that:
`catdog run` gets the session run's data file and training flags (so its steps are cached) and no accuracy floor; the
ports of `catdog serve` are free ones; the Kubeflow host is tests/kfp_fake_server.py; `make` lines are dry
runs (`make -n`: the target exists and says what it would run); `docker` lines run only where a Docker engine
answers (a docker CLI alone is not one)."""

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import imagegen
import pytest
import requests
from kfp_fake_server import FakeKfpServer

REPO = Path(__file__).resolve().parents[1]
SH_BLOCK = re.compile(r"^```sh\n(.*?)^```", re.S | re.M)
GRPC, REST = "127.0.0.1:8500", "127.0.0.1:8501"


def _docker_engine() -> bool:
    if not shutil.which("docker"):
        return False
    return subprocess.run(["docker", "info"], capture_output=True, timeout=60).returncode == 0


def readme_commands():
    """[(block number, [logical lines])]: continuation lines joined, blank lines dropped."""
    blocks = []
    for number, block in enumerate(SH_BLOCK.findall((REPO / "README.md").read_text()), 1):
        lines = [line.strip() for line in block.replace("\\\n", " ").splitlines()]
        blocks.append((number, [line for line in lines if line]))
    return blocks


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory, pipeline_run):
    root = tmp_path_factory.mktemp("readme")
    shutil.copy(pipeline_run.data_zip, root / "pets.zip")
    shutil.copy(pipeline_run.data_zip, root / "new_photos.zip")
    (root / "cat.jpg").write_bytes(imagegen.image_bytes(0, size=(150, 150)))
    (root / "dog.jpg").write_bytes(imagegen.image_bytes(1, size=(150, 150), seed=3))
    (root / "runs").mkdir()
    shutil.copytree(pipeline_run.output, root / "runs" / "catdog", symlinks=True)
    (root / "runs" / "pets").symlink_to(root / "runs" / "catdog")
    (root / ".venv").symlink_to(Path(sys.executable).parents[1])
    return root


def _wait_until_available(rest_url: str, server: subprocess.Popen) -> None:
    for _ in range(600):
        assert server.poll() is None, "catdog serve ended"
        try:
            if '"AVAILABLE"' in requests.get(f"{rest_url}/v1/models/catdog", timeout=5).text:
                return
        except requests.RequestException:
            pass
        time.sleep(0.5)
    raise AssertionError("no version became AVAILABLE")


def test_every_shell_example_of_the_readme_runs(sandbox, pipeline_run):
    blocks = readme_commands()
    assert len(blocks) >= 8, "the README's examples were not found"
    grpc_port, rest_port = _free_port(), _free_port()
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    train_flags = " ".join(map(str, pipeline_run.train_args))
    servers, ran = [], []
    docker = _docker_engine()
    with FakeKfpServer() as kfp_api:
        try:
            for number, lines in blocks:
                script = []
                for line in lines:
                    line = line.replace(GRPC, f"127.0.0.1:{grpc_port}").replace(REST, f"127.0.0.1:{rest_port}")
                    line = line.replace("http://localhost:8080", kfp_api.url)
                    if line.startswith("make "):
                        line = f"make -n -C {REPO} {line.split('#')[0][len('make ') :]}"
                    elif line.startswith("docker ") and not docker:
                        continue
                    elif "catdog run " in line:  # the session run's data and flags: its steps are cached
                        line = line.split("#")[0].replace("--data pets.zip", f"--data {pipeline_run.data_zip}")
                        line += f" {train_flags} --min-accuracy 0"
                    elif "catdog serve" in line and line.split("#")[0].strip().endswith("&"):
                        command = line.split("#")[0].strip().rstrip("&").split()
                        servers.append(
                            subprocess.Popen(
                                [*command, "--port", str(grpc_port), "--rest-port", str(rest_port)],
                                cwd=sandbox,
                                env=env,
                                stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL,
                            )
                        )
                        _wait_until_available(f"http://127.0.0.1:{rest_port}", servers[-1])
                        continue
                    script.append(line)
                result = subprocess.run(
                    ["bash", "-euo", "pipefail", "-c", "\n".join(script)],
                    cwd=sandbox,
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=1200,
                )
                assert result.returncode == 0, f"README block {number} failed:\n{script}\n{result.stderr[-3000:]}"
                ran.append((number, result.stdout))
        finally:
            for server in servers:
                server.terminate()
                server.wait(timeout=30)
    outputs = "\n".join(stdout for _, stdout in ran)
    assert '"predictions"' in outputs  # the curl example's answer
    assert "catdog run" in outputs  # make -n run
    assert kfp_api.state.runs, "the Kubeflow example started no run"
