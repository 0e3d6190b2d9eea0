"""Issue 6's held-out check: the served model on images that were in neither of its splits.

Takes --per-class images of each class out of the zip's training folders (a seeded draw), writes the rest
to a new zip, trains on it with `catdog run`, serves the pushed model with `catdog serve` and asks it for
the held-out images over gRPC, as any TF Serving client would. Prints one JSON object: the Evaluator's
validation accuracy, the held-out accuracy per class and overall, and the run's wall time.

    .venv/bin/python bench/heldout_check.py [--data ZIP] [--per-class 100] [--output DIR] [-- run flags]

Flags after `--` go to `catdog run` (e.g. -- --model residual --epochs 80 --lr-schedule cosine).
The held-out images are kept in <output>/heldout/<class>/ to look at.
"""

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
import record  # noqa: E402  bench/record.py: a script's own folder is on sys.path

from components.ingest import layout, sources  # noqa: E402

DEFAULT_DATA = os.path.join(os.path.dirname(REPO), "shared", "datasets", "cats_and_dogs_filtered.zip")
REQUEST_IMAGES = 16
MODEL_NAME = "catdog"  # what `catdog run` pushes and `catdog serve` serves by default


def hold_out(zip_path: str, per_class: int, seed: int, kept_zip: str, heldout_dir: str) -> dict[str, list[str]]:
    """Writes kept_zip without per_class training images of each class, and those images under
    heldout_dir/<class>/; returns {class name: [held-out file paths]}."""
    found = layout.place(sources.resolve(zip_path).list_files(), 20)
    rng = random.Random(seed)
    shutil.rmtree(heldout_dir, ignore_errors=True)  # a previous draw's images must not mix in
    held = set()
    for label in range(len(found.class_names)):
        train = sorted(e.member for e in found.entries if e.split == layout.TRAIN and e.label == label)
        if len(train) <= per_class:
            raise SystemExit(f"{zip_path}: class {found.class_names[label]!r} has only {len(train)} training images")
        held.update(rng.sample(train, per_class))
    heldout: dict[str, list[str]] = {name: [] for name in found.class_names}
    with zipfile.ZipFile(zip_path) as source, zipfile.ZipFile(kept_zip, "w") as kept:
        for entry in found.entries:
            data = source.read(entry.member)
            if entry.member not in held:
                kept.writestr(entry.member, data)
                continue
            class_name = found.class_names[entry.label]
            path = os.path.join(heldout_dir, class_name, os.path.basename(entry.member))
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as f:
                f.write(data)
            heldout[class_name].append(path)
    return heldout


def served_accuracy(target: str, model_name: str, heldout: dict[str, list[str]]) -> dict[str, float]:
    """Accuracy per class and overall of the served model's class_name answers."""
    from serving.client.grpc_client import PredictClient

    correct: dict[str, int] = {}
    with PredictClient(target, model_name) as client:
        for class_name, paths in heldout.items():
            correct[class_name] = 0
            for start in range(0, len(paths), REQUEST_IMAGES):
                batch = []
                for path in paths[start : start + REQUEST_IMAGES]:
                    with open(path, "rb") as f:
                        batch.append(f.read())
                correct[class_name] += sum(p["class_name"] == class_name for p in client.predict(batch))
    accuracy = {name: round(correct[name] / len(paths), 4) for name, paths in heldout.items()}
    accuracy["overall"] = round(sum(correct.values()) / sum(len(p) for p in heldout.values()), 4)
    return accuracy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=DEFAULT_DATA, help="the image zip to hold images out of")
    parser.add_argument("--per-class", type=int, default=100, help="training images of each class to hold out")
    parser.add_argument("--seed", type=int, default=7, help="seed of the held-out draw")
    parser.add_argument("--output", default=os.path.join(REPO, "runs", "heldout"))
    parser.add_argument("run_flags", nargs="*", help="after --: flags for catdog run")
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.makedirs(args.output, exist_ok=True)
    kept_zip = os.path.join(args.output, "kept.zip")
    heldout = hold_out(args.data, args.per_class, args.seed, kept_zip, os.path.join(args.output, "heldout"))

    run_dir = os.path.join(args.output, "run")
    started = time.monotonic()
    with open(os.path.join(args.output, "run.log"), "w") as log:
        subprocess.run(
            [sys.executable, "-m", "cli.main", "run", "--data", kept_zip, "--output", run_dir, *args.run_flags],
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
        )  # its exit code says pushed (0) or not (3): the summary below says why
    run_seconds = time.monotonic() - started

    from serving_latency import start_server  # bench/ is this script's folder

    from pipeline import run_summary
    from serving.server.model_registry import resolve_model_dir

    summary = run_summary.summarize(os.path.join(run_dir, "metadata.sqlite"))
    if not summary.pushed:
        raise SystemExit(f"the run pushed no model: {'; '.join(summary.reasons)} (log: {args.output}/run.log)")
    model_dir = resolve_model_dir(os.path.join(run_dir, "serving", MODEL_NAME))
    with tempfile.TemporaryDirectory(prefix="catdog-heldout-") as work:
        process, target, _ = start_server(model_dir, work)
        try:
            accuracy = served_accuracy(target, MODEL_NAME, heldout)
        finally:
            process.terminate()
            process.wait(timeout=30)
    record.save(
        "heldout_check",
        {
            "data": args.data,
            "run_flags": args.run_flags,
            "train_images": sum(
                1 for e in layout.place(sources.resolve(kept_zip).list_files(), 20).entries if e.split == layout.TRAIN
            ),
            "heldout_images": {name: len(paths) for name, paths in heldout.items()},
            "validation_accuracy": summary.accuracy,
            "heldout_accuracy": accuracy,
            "run_wall_s": round(run_seconds, 1),
        },
    )


if __name__ == "__main__":
    main()
