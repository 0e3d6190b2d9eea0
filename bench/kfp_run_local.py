"""`catdog kfp run-local` against `catdog run` on the same tiny data and settings, one after the other in one
invocation: wall time of each, their ratio, and the seconds of every task (run-local: the driver's record;
catdog run: each component's execution in ML Metadata). Writes bench/results/kfp_run_local.json.

    .venv/bin/python bench/kfp_run_local.py --work /tmp/kfp-bench -- --model tutorial --epochs 1 --min-accuracy 0
"""

import argparse
import json
import os
import subprocess
import sys
import time

import record  # noqa: E402  bench/record.py: a script's own folder is on sys.path
from ml_metadata.metadata_store import metadata_store
from tfx.orchestration import metadata

from pipeline import configs, kfp_local

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tests"))
import imagegen  # noqa: E402


def _timed(command, log_path: str):
    start = time.monotonic()
    with open(log_path, "w") as log:
        returncode = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, cwd=REPO).returncode
    return returncode, round(time.monotonic() - start, 1)


def _component_seconds(metadata_path: str) -> dict:
    """Each node's execution time as ML Metadata recorded it (its context is "<pipeline>.<node id>")."""
    store = metadata_store.MetadataStore(metadata.sqlite_metadata_connection_config(metadata_path))
    seconds = {}
    for context in store.get_contexts_by_type("node"):
        node = context.name.split(".", 1)[-1]
        for execution in store.get_executions_by_context(context.id):
            seconds[node] = round(
                (execution.last_update_time_since_epoch - execution.create_time_since_epoch) / 1000, 1
            )
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", required=True, help="folder for the data and both run directories")
    parser.add_argument("--train-per-class", type=int, default=10)
    parser.add_argument("--eval-per-class", type=int, default=5)
    parser.add_argument("flags", nargs="*", help="after --: flags for both commands")
    args = parser.parse_args()
    work = os.path.abspath(args.work)
    os.makedirs(work, exist_ok=True)
    data = imagegen.split_dataset(os.path.join(work, "data.zip"), args.train_per_class, args.eval_per_class)
    kfp_local.side_env_python()  # made before the clock starts: not part of either run
    cli = [sys.executable, "-m", "cli.main"]
    run_dir, local_dir = os.path.join(work, "run"), os.path.join(work, "kfp-local")
    run_rc, run_s = _timed([*cli, "run", "--data", data, "--output", run_dir, *args.flags], run_dir + ".log")
    local_rc, local_s = _timed(
        [*cli, "kfp", "run-local", "--data", data, "--output", local_dir, *args.flags], local_dir + ".log"
    )
    with open(os.path.join(local_dir, kfp_local.RESULT_FILE)) as f:
        local_tasks = {name: task["seconds"] for name, task in json.load(f)["tasks"].items()}
    run_components = _component_seconds(os.path.join(run_dir, configs.METADATA_FILE))
    record.save(
        "kfp_run_local",
        {
            "images": 2 * (args.train_per_class + args.eval_per_class),
            "flags": args.flags,
            "catdog_run": {"returncode": run_rc, "wall_s": run_s, "component_s": run_components},
            "kfp_run_local": {"returncode": local_rc, "wall_s": local_s, "task_s": local_tasks},
            "wall_ratio_run_local_to_run": round(local_s / run_s, 2),
            "per_task_side_by_side_s": {
                name: {"run_local": s, "catdog_run": run_components.get(name)} for name, s in local_tasks.items()
            },
            "load_average_at_end": [round(v, 2) for v in os.getloadavg()],
        },
    )


if __name__ == "__main__":
    main()
