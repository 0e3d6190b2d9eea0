"""The default run's cost in units of its floor: one inference pass of MobileNet@224 over the same images.

First the pass (every image of the zip read, decoded, resized to 224x224 with antialiasing as Transform does,
scaled to [-1, 1] and pushed through MobileNet without its top, batches of 50), then `catdog run` on the same zip
with the same weights, one seed after another (the machine is shared: never two at once). Wall and CPU time of
each (CPU: this process's for the pass, the child's for the run), and their ratios.

    .venv/bin/python bench/run_cost.py [--data ZIP] [--weights H5] [--seeds 42 ...] [--output DIR] [--name NAME]
        [-- run flags]
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

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
import record  # noqa: E402  bench/record.py: a script's own folder is on sys.path

SHARED = os.path.join(os.path.dirname(REPO), "shared")
DEFAULT_DATA = os.path.join(SHARED, "datasets", "cats_and_dogs_filtered.zip")
DEFAULT_WEIGHTS = os.path.join(SHARED, "weights", "mobilenet_1_0_224_tf_no_top.h5")
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")
BATCH = 50
SIZE = 224


def inference_pass(data: str, weights: str) -> dict:
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
    wall, cpu = time.perf_counter(), time.process_time()
    count = sum(int(forward(batch).shape[0]) for batch in images)
    return {
        "images": count,
        "wall_s": round(time.perf_counter() - wall, 1),
        "cpu_s": round(time.process_time() - cpu, 1),
    }


def catdog_run(data: str, weights: str, output: str, seed: int, extra) -> dict:
    command = [
        os.path.join(REPO, ".venv", "bin", "catdog"),
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
    parser.add_argument("run_flags", nargs="*")
    args = parser.parse_args()

    floor = inference_pass(args.data, args.weights)
    print(f"inference pass: {floor}", file=sys.stderr)
    runs = []
    for seed in args.seeds:
        run = catdog_run(args.data, args.weights, f"{args.output}-seed{seed}", seed, args.run_flags)
        run["passes_wall"] = round(run["wall_s"] / floor["wall_s"], 2)
        run["passes_cpu"] = round(run["cpu_s"] / floor["cpu_s"], 2)
        print(f"run: {run}", file=sys.stderr)
        runs.append(run)
    accuracies = [r["validation_accuracy"] for r in runs]
    summary = {
        "validation_accuracy_mean": round(statistics.mean(accuracies), 4),
        "validation_accuracy_spread": round(max(accuracies) - min(accuracies), 4),
        "passes_wall_mean": round(statistics.mean(r["passes_wall"] for r in runs), 2),
        "passes_cpu_mean": round(statistics.mean(r["passes_cpu"] for r in runs), 2),
    }
    record.save(args.name, {"inference_pass": floor, "runs": runs, **summary, "load_average_after": os.getloadavg()})


if __name__ == "__main__":
    main()
