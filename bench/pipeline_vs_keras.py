"""Issue 2's benchmark: `catdog run` against the same model in plain Keras, same data, same epochs, one run.

Prints one JSON object: each side's validation accuracy, wall seconds and CPU seconds, and the ratios
(pipeline / plain Keras). CPU seconds are the steadier figure on a shared machine.

    .venv/bin/python bench/pipeline_vs_keras.py [--data ZIP] [--epochs 15] [--model residual|augmented|tutorial]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import record  # noqa: E402  bench/record.py: a script's own folder is on sys.path

from components import training_settings
from components.trainer import HISTORY_FILE
from pipeline import configs
from pipeline.run_summary import summarize

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED_ZIP = os.path.join(REPO, "..", "shared", "datasets", "cats_and_dogs_filtered.zip")


def timed(cmd, log_path):
    """Runs cmd, returning (stdout, wall seconds, CPU seconds of the process and its children)."""
    start = time.monotonic()
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, text=True, cwd=REPO)
        stdout = proc.stdout.read()
        _, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(cmd[1:3])} failed: see {log_path}")
    return stdout, wall, usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=SHARED_ZIP)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--batch-size", type=int, default=20)
    parser.add_argument("--model", default=training_settings.DEFAULT_PRESET)
    parser.add_argument("--out", default=None, help="where to keep the pipeline run (default: a temp dir)")
    args = parser.parse_args()
    args.data = os.path.abspath(args.data)
    out = os.path.abspath(args.out or tempfile.mkdtemp(prefix="catdog-bench-"))
    os.makedirs(out, exist_ok=True)
    common = ["--epochs", str(args.epochs), "--batch-size", str(args.batch_size), "--model", args.model]

    keras_out, keras_wall, keras_cpu = timed(
        [sys.executable, "bench/plain_keras.py", "--data", args.data, *common], os.path.join(out, "keras.log")
    )
    keras = json.loads(keras_out.strip().splitlines()[-1])
    pipeline_out, pipeline_wall, pipeline_cpu = timed(
        [
            sys.executable,
            "-m",
            "cli.main",
            "run",
            "--data",
            args.data,
            "--output",
            os.path.join(out, "run"),
            "--no-cache",
            *common,
        ],
        os.path.join(out, "pipeline.log"),
    )
    summary = summarize(os.path.join(out, "run", configs.METADATA_FILE))
    with open(os.path.join(summary.model_run, HISTORY_FILE)) as f:
        history = json.load(f)
    result = {
        "data": args.data,
        "epochs": args.epochs,
        "model": args.model,
        "pipeline": {
            "val_accuracy": summary.accuracy,  # the Evaluator's, on the kept (best) epoch
            "kept_epoch": history["kept_epoch"],
            "last_epoch_val_accuracy": history["history"]["val_accuracy"][-1],
            "pushed": summary.pushed,
            "wall_s": round(pipeline_wall, 1),
            "cpu_s": round(pipeline_cpu, 1),
        },
        "plain_keras": {**keras, "wall_s": round(keras_wall, 1), "cpu_s": round(keras_cpu, 1)},
        "ratio_wall": round(pipeline_wall / keras_wall, 3),
        "ratio_cpu": round(pipeline_cpu / keras_cpu, 3),
        "run_dir": out,
    }
    record.save(f"pipeline_vs_keras-{args.model}-{args.epochs}ep", result)


if __name__ == "__main__":
    main()
