"""A newcomer's first hour, measured (issue 23): how much a tiny `catdog run` prints and how much of it is
warnings, how long until its first line, how long `catdog predict` of one image takes against a running
`catdog serve` (REST and gRPC; curl for scale), `catdog --help`, an argument error and a missing --data path,
`catdog kfp compile`'s lines, and the README's length. Writes bench/results/<name>.json.

    .venv/bin/python bench/first_hour.py                         # this tree only
    .venv/bin/python bench/first_hour.py --compare 1db3a5a       # that commit ("before") beside this tree ("after")

With --compare, the commit's files are extracted (git archive) into a temporary folder and both trees run with
this .venv, alternately, so the timings share the machine's load: compare within one results file.
"""

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import record  # noqa: E402  bench/record.py: a script's own folder is on sys.path

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tests"))
import imagegen  # noqa: E402

# Python warnings (`...: FutureWarning: ...`), absl's `WARNING:absl:`, and the C++ logs of TensorFlow and gRPC
# (`2026-12-02 06:50:39.611359: E external/...`, glog's `W0000 00:00:...`).
WARNING_LINE = re.compile(r"warn|^[WEF]\d{4} |^\d{4}-\d\d-\d\d [\d:.]+: [IWEF] ", re.IGNORECASE)
# What follows a warning's first line: Python's source line, TF's "Instructions for updating" and the node.
CONTINUATION = re.compile(r"^(\s|Instructions for updating|Use |`)")
ROUNDS = 3


def _catdog(tree: str, *args: str):
    # The command's module moved with the layout of issue 19 (pipeline/cli.py to cli/main.py).
    module = "cli.main" if os.path.exists(os.path.join(tree, "cli", "main.py")) else "pipeline.cli"
    return [sys.executable, "-m", module, *args], dict(os.environ, PYTHONPATH=tree)


def _timed_lines(tree: str, args, timeout: float = 1800):
    """(returncode, [(seconds since start, line)], wall seconds) of one command, stdout and stderr together."""
    command, env = _catdog(tree, *args)
    start = time.monotonic()
    proc = subprocess.Popen(command, cwd=tree, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    for line in proc.stdout:
        lines.append((time.monotonic() - start, line.rstrip("\n")))
    returncode = proc.wait(timeout=timeout)
    return returncode, lines, time.monotonic() - start


def _first_useful_line(lines):
    """Seconds to the first line that is neither a warning nor the rest of one."""
    in_warning = False
    for seconds, line in lines:
        in_warning = bool(WARNING_LINE.search(line)) or (in_warning and bool(CONTINUATION.match(line)))
        if not in_warning:
            return round(seconds, 2)
    return None


def _output_figures(returncode, lines, wall):
    return {
        "returncode": returncode,
        "wall_s": round(wall, 2),
        "first_line_s": round(lines[0][0], 2) if lines else None,
        "first_useful_line_s": _first_useful_line(lines),
        "lines": len(lines),
        "warning_lines": sum(1 for _, line in lines if WARNING_LINE.search(line)),
        "last_lines": [line for _, line in lines[-12:]],
    }


def tiny_run(tree: str, data: str, output: str) -> dict:
    returncode, lines, wall = _timed_lines(
        tree, ["run", "--data", data, "--output", output, "--model", "tutorial", "--epochs", "1", "--min-accuracy", "0"]
    )
    # The whole output, each line with its second: what a newcomer reads.
    return {**_output_figures(returncode, lines, wall), "output": [f"{t:7.1f} {line}" for t, line in lines]}


def kfp_compile(tree: str, package: str) -> dict:
    return _output_figures(
        *_timed_lines(
            tree,
            [
                "kfp",
                "compile",
                "--output",
                package,
                "--pipeline-root",
                "gs://bucket/root",
                "--serving-dir",
                "gs://bucket/serving/catdog",
            ],
        )
    )


def _wall(command, env=None, cwd=None) -> float:
    start = time.monotonic()
    subprocess.run(command, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.monotonic() - start


def start_server(tree: str, model_base_path: str):
    command, env = _catdog(tree, "serve", "--model-base-path", model_base_path, "--port", "0", "--rest-port", "0")
    proc = subprocess.Popen(command, cwd=tree, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    for line in proc.stdout:
        found = re.search(r"on [\d.]+:(\d+) \(gRPC.*http://([\d.]+:\d+) \(REST", line)
        if found:
            return proc, f"127.0.0.1:{found.group(1)}", f"http://{found.group(2)}"
    raise RuntimeError("catdog serve ended before serving")


def _wait_until_available(rest: str) -> None:
    import requests

    for _ in range(600):
        try:
            if "AVAILABLE" in requests.get(f"{rest}/v1/models/catdog", timeout=5).text:
                return
        except requests.RequestException:
            pass
        time.sleep(0.5)
    raise RuntimeError("no version became AVAILABLE")


def quick_commands(tree: str, image: str, grpc_target: str, rest_url: str, missing: str) -> dict:
    """name: (command, env): the commands that should answer at once."""

    def catdog(*args):
        return _catdog(tree, *args)

    return {
        "help": catdog("--help"),
        "run_help": catdog("run", "--help"),
        "argument_error": catdog("run", "--eval-percent", "100"),
        "missing_data_path": catdog("run", "--data", missing, "--output", os.path.join(tempfile.gettempdir(), "x")),
        "predict_rest": catdog("predict", "--rest", rest_url, image),
        "predict_grpc": catdog("predict", "--server", grpc_target, image),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--compare", default="", metavar="COMMIT", help="also measure this commit, as 'before'")
    parser.add_argument("--name", default="newcomer", help="the results file: bench/results/<name>.json")
    parser.add_argument("--label", default="after", help="this tree's name in the results")
    args = parser.parse_args()

    work = tempfile.mkdtemp(prefix="first_hour-")
    trees = {}
    if args.compare:
        before = os.path.join(work, "before-tree")
        os.makedirs(before)
        archive = subprocess.run(["git", "-C", REPO, "archive", args.compare], check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", before], input=archive, check=True)
        trees["before"] = before
    trees[args.label] = REPO
    data = imagegen.split_dataset(os.path.join(work, "data.zip"))  # 30+30 train, 10+10 validation
    image = os.path.join(work, "cat.jpg")
    with open(image, "wb") as f:
        f.write(imagegen.image_bytes(0, size=(150, 150)))

    result = {"commits": {}, "trees": {}}
    for label, tree in trees.items():
        revision = args.compare if label == "before" else "HEAD"
        result["commits"][label] = subprocess.run(
            ["git", "-C", REPO, "rev-parse", "--short", revision], capture_output=True, text=True
        ).stdout.strip()
        with open(os.path.join(tree, "README.md")) as f:
            readme_lines = sum(1 for _ in f)
        result["trees"][label] = {
            "tiny_run": tiny_run(tree, data, os.path.join(work, f"run-{label}")),
            "kfp_compile": kfp_compile(tree, os.path.join(work, f"pipeline-{label}.yaml")),
            "readme_lines": readme_lines,
        }

    # One server (the first tree's, on the first run's model) answers every tree's client.
    first = next(iter(trees))
    server, grpc_target, rest_url = start_server(trees[first], os.path.join(work, f"run-{first}", "serving", "catdog"))
    try:
        _wait_until_available(rest_url)
        commands = {
            label: quick_commands(tree, image, grpc_target, rest_url, os.path.join(work, "no-such.zip"))
            for label, tree in trees.items()
        }
        walls = {label: {name: [] for name in commands[label]} for label in trees}
        curl = []
        for _ in range(ROUNDS):  # alternate the trees, so both see the same load
            for label, tree in trees.items():
                for name, (command, env) in commands[label].items():
                    walls[label][name].append(_wall(command, env, tree))
            if shutil.which("curl"):
                body = os.path.join(work, "request.json")
                with open(body, "w") as f:
                    import base64
                    import json

                    json.dump({"instances": [{"b64": base64.b64encode(Path(image).read_bytes()).decode()}]}, f)
                curl.append(_wall(["curl", "-s", "-d", f"@{body}", f"{rest_url}/v1/models/catdog:predict"]))
    finally:
        server.terminate()
        server.wait(timeout=30)
    for label in trees:
        result["trees"][label]["wall_s"] = {
            name: {"median": round(statistics.median(values), 3), "min": round(min(values), 3)}
            for name, values in walls[label].items()
        }
    if curl:
        result["curl_predict_s"] = {"median": round(statistics.median(curl), 3), "min": round(min(curl), 3)}
    with open("/proc/loadavg") as f:
        result["load_average_at_end"] = f.read().split()[:3]
    result["rounds"] = ROUNDS
    result["image"] = "a 150x150 generated JPEG (tests/imagegen.py)"
    result["data"] = "tests/imagegen.py split_dataset: 30+30 train, 10+10 validation images"
    record.save(args.name, result)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
