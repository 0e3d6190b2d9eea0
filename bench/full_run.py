"""One `catdog run`, ingestion to report, measured: wall time, CPU time and peak resident memory of its
process tree, the Evaluator's accuracy and the Trainer's input path (history.json). Writes
bench/results/<name>.json.

    .venv/bin/python bench/full_run.py --name full_run-gen30k --data /work/data/gen30k.zip \
        --output /work/data/run30k -- --epochs 1 --fine-tune-epochs 0 \
        --backbone-weights ../shared/weights/mobilenet_1_0_224_tf_no_top.h5
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import record  # noqa: E402  bench/record.py: a script's own folder is on sys.path

from components import trainer
from pipeline import configs
from pipeline.run_summary import summarize

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--name", required=True, help="the results file: bench/results/<name>.json")
    parser.add_argument("--data", required=True)
    parser.add_argument("--output", required=True, help="the run directory (its log: <output>.log)")
    parser.add_argument("run_flags", nargs="*", help="after --: more flags for `catdog run`")
    args = parser.parse_args()
    output = os.path.abspath(args.output)
    start = time.monotonic()
    with open(output + ".log", "w") as log:
        returncode = subprocess.run(
            [
                sys.executable,
                "-m",
                "cli.main",
                "run",
                "--data",
                os.path.abspath(args.data),
                "--output",
                output,
                *args.run_flags,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=REPO,
        ).returncode
    wall = time.monotonic() - start
    children = resource.getrusage(resource.RUSAGE_CHILDREN)  # ru_maxrss: the largest process of the tree
    summary = summarize(os.path.join(output, configs.METADATA_FILE))
    history = {}
    if summary.model_run:
        with open(os.path.join(summary.model_run, trainer.HISTORY_FILE)) as f:
            history = json.load(f)
    record.save(
        args.name,
        {
            "data": args.data,
            "run_flags": args.run_flags,
            "returncode": returncode,
            "wall_s": round(wall, 1),
            "cpu_s": round(children.ru_utime + children.ru_stime, 1),
            "peak_rss_gb": round(children.ru_maxrss / 2**20, 2),
            "validation_accuracy": summary.accuracy,
            "pushed": summary.pushed,
            "train_val_accuracy_per_epoch": history.get("history", {}).get("val_accuracy"),
            "trainer_input": history.get("input"),
            "load_average_at_end": [round(v, 2) for v in os.getloadavg()],
        },
    )


if __name__ == "__main__":
    main()
