"""The default run's cost in units of its floor: one inference pass of MobileNet@224 over the same images.

For each seed, the pass (every image of the zip read, decoded, resized to 224x224 with antialiasing as Transform
does, scaled to [-1, 1] and pushed through MobileNet without its top, batches of 50), then `catdog run` on the same
zip with the same weights (the machine is shared: never two at once; the pass is measured again beside every run,
as the machine's speed drifts over minutes). Wall and CPU time of each (CPU: this process's for the pass, the
child's for the run), and each run's ratios to the pass beside it.

    .venv/bin/python bench/run_cost.py [--data ZIP] [--weights H5] [--seeds 42 ...] [--output DIR] [--name NAME]
        [--before TREE] [-- run flags]

--before TREE: a checkout of an earlier commit (`git worktree add TREE COMMIT`): for each seed its `catdog run`
goes first, then this tree's, each beside a pass of its own, in this tree's .venv; the results say which is which.
"""

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
import record  # noqa: E402  bench/record.py: a script's own folder is on sys.path

SHARED = os.path.join(os.path.dirname(REPO), "shared")
DEFAULT_DATA = os.path.join(SHARED, "datasets", "cats_and_dogs_filtered.zip")
DEFAULT_WEIGHTS = os.path.join(SHARED, "weights", "mobilenet_1_0_224_tf_no_top.h5")
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")
BATCH = 50
SIZE = 224


def inference_pass(data: str, weights: str) -> Callable[[], dict]:
    """The images read and the model built and traced once; the function returned times one pass."""
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    import tensorflow as tf
    import tf_keras as keras

    with zipfile.ZipFile(data) as z:
        names = sorted(n for n in z.namelist() if n.lower().endswith(IMAGE_EXTENSIONS) and "__MACOSX" not in n)
        encoded = [z.read(n) for n in names]
    model = keras.applications.MobileNet(input_shape=(SIZE, SIZE, 3), include_top=False, weights=weights, pooling="avg")

    def decode(data):
        image = tf.io.decode_image(data, channels=3, expand_animations=False)
        image.set_shape([None, None, 3])
        return tf.image.resize(image, [SIZE, SIZE], antialias=True) / 127.5 - 1.0

    @tf.function
    def forward(images):
        return model(images, training=False)

    images = tf.data.Dataset.from_tensor_slices(encoded).map(decode, num_parallel_calls=tf.data.AUTOTUNE)
    images = images.batch(BATCH).prefetch(tf.data.AUTOTUNE)
    forward(tf.zeros([BATCH, SIZE, SIZE, 3]))  # traced before the clock starts

    def timed() -> dict:
        wall, cpu = time.perf_counter(), time.process_time()
        count = sum(int(forward(batch).shape[0]) for batch in images)
        return {
            "images": count,
            "wall_s": round(time.perf_counter() - wall, 1),
            "cpu_s": round(time.process_time() - cpu, 1),
        }

    return timed


def catdog_run(tree: str, data: str, weights: str, output: str, seed: int, extra) -> dict:
    """`catdog run` of the project tree tree (its cli first on the path), in this tree's .venv."""
    command = [
        os.path.join(REPO, ".venv", "bin", "python"),
        "-c",
        f"import sys; sys.path.insert(0, {tree!r}); from cli.main import main; sys.exit(main())",
        "run",
        "--data",
        data,
        "--backbone-weights",
        weights,
        "--output",
        output,
        "--seed",
        str(seed),
        *extra,
    ]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(f"{output}.log", "w") as log:
        log.write(done.stdout + done.stderr)
    if done.returncode:
        raise SystemExit(f"catdog run failed ({done.returncode}); see {output}.log")
    accuracy = re.search(r"Validation accuracy: ([0-9.]+)", done.stdout + done.stderr)
    histories = sorted(
        (os.path.join(root, "history.json") for root, _, files in os.walk(output) if "history.json" in files),
        key=os.path.getmtime,
    )
    history = {}
    if histories:
        with open(histories[-1]) as f:
            history = json.load(f)
    return {
        "seed": seed,
        "wall_s": round(wall, 1),
        "cpu_s": round(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime, 1),
        "peak_rss_mb": round(after.ru_maxrss / 1024),
        "validation_accuracy": float(accuracy.group(1)) if accuracy else None,
        "trainer_input": history.get("input", {}).get("reason"),
        "val_accuracy_per_epoch": [round(v, 4) for v in history.get("history", {}).get("val_accuracy", [])],
        # Keras' epoch lines ("- 923ms/epoch -", "- 9s/epoch -"): the first of a phase holds its one-time costs
        "epoch_wall_s": [
            float(value) / (1000 if unit == "ms" else 1)
            for value, unit in re.findall(r" - ([0-9.]+)(ms|s)/epoch - ", done.stdout)
        ],
        # pipeline/progress.py's lines: where the wall time goes
        "component_wall_s": {
            name: float(seconds)
            for name, seconds in re.findall(r"^\[\d+/\d+\] (\S+): done in ([0-9.]+) s$", done.stdout, re.MULTILINE)
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=DEFAULT_DATA)
    parser.add_argument("--weights", default=DEFAULT_WEIGHTS)
    parser.add_argument("--seeds", type=int, nargs="+", default=[42])
    parser.add_argument("--output", default=os.path.join(REPO, "runs", "run_cost"))
    parser.add_argument("--name", default="run_cost")
    parser.add_argument("--before", help="a checkout of an earlier commit, run first for each seed")
    parser.add_argument("run_flags", nargs="*")
    args = parser.parse_args()

    trees = {"before": os.path.abspath(args.before), "after": REPO} if args.before else {"this": REPO}
    one_pass = inference_pass(args.data, args.weights)
    runs = []
    for seed in args.seeds:
        for side, tree in trees.items():
            floor = one_pass()
            print(f"inference pass: {floor}", file=sys.stderr)
            output = f"{args.output}-{side}-seed{seed}" if args.before else f"{args.output}-seed{seed}"
            run = catdog_run(tree, args.data, args.weights, output, seed, args.run_flags)
            run.update(tree=side, commit=_commit(tree))
            run["inference_pass"] = floor
            run["passes_wall"] = round(run["wall_s"] / floor["wall_s"], 2)
            run["passes_cpu"] = round(run["cpu_s"] / floor["cpu_s"], 2)
            print(f"run: {run}", file=sys.stderr)
            runs.append(run)
    summaries = {side: _summary([r for r in runs if r["tree"] == side]) for side in trees}
    summary = summaries if args.before else summaries["this"]  # one tree: its summary at the top, as before
    record.save(args.name, {"runs": runs, **summary, "load_average_after": os.getloadavg()})


def _commit(tree: str) -> str:
    done = subprocess.run(["git", "-C", tree, "describe", "--always", "--dirty"], capture_output=True, text=True)
    return done.stdout.strip()


def _summary(runs: list[dict]) -> dict:
    accuracies = [r["validation_accuracy"] for r in runs]
    return {
        "validation_accuracy_mean": round(statistics.mean(accuracies), 4),
        "validation_accuracy_spread": round(max(accuracies) - min(accuracies), 4),
        "passes_wall_mean": round(statistics.mean(r["passes_wall"] for r in runs), 2),
        "passes_cpu_mean": round(statistics.mean(r["passes_cpu"] for r in runs), 2),
    }


if __name__ == "__main__":
    main()
