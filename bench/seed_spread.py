"""The run-to-run spread that --max-regression must tolerate: the same recipe on the same data, trained
once per seed in separate run directories (so neither is gated against the other). Writes
bench/results/seed_spread.json: each seed's Evaluator accuracy and the largest difference.

    .venv/bin/python bench/seed_spread.py [--data ZIP] [--seeds 1 2] [--output runs/seed-spread] [-- run flags]
"""

import argparse
import os
import subprocess
import sys
import time

import record  # noqa: E402  bench/record.py: a script's own folder is on sys.path

from pipeline import configs
from pipeline.run_summary import summarize

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED_ZIP = os.path.join(REPO, "..", "shared", "datasets", "cats_and_dogs_filtered.zip")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=SHARED_ZIP)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--output", default=os.path.join(REPO, "runs", "seed-spread"))
    parser.add_argument("run_flags", nargs="*", help="after --: flags for `catdog run` (default: the recipe's)")
    args = parser.parse_args()
    runs = {}
    for seed in args.seeds:
        run_dir = os.path.join(os.path.abspath(args.output), f"seed-{seed}")
        os.makedirs(run_dir, exist_ok=True)
        start = time.monotonic()
        with open(os.path.join(run_dir, "run.log"), "w") as log:
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "cli.main",
                    "run",
                    "--data",
                    os.path.abspath(args.data),
                    "--output",
                    run_dir,
                    "--seed",
                    str(seed),
                    "--min-accuracy",
                    "0",
                    *args.run_flags,
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=REPO,
                check=True,
            )
        summary = summarize(os.path.join(run_dir, configs.METADATA_FILE))
        runs[str(seed)] = {"accuracy": summary.accuracy, "wall_s": round(time.monotonic() - start, 1)}
    accuracies = [r["accuracy"] for r in runs.values()]
    record.save(
        "seed_spread",
        {
            "data": args.data,
            "run_flags": args.run_flags,
            "runs": runs,
            "largest_difference": round(max(accuracies) - min(accuracies), 4),
        },
    )


if __name__ == "__main__":
    main()
