"""Trainer input speed and memory (issues 6 and 13), each comparison a ratio within one run.

--compare array (the default): is the Trainer input-bound? Trains the same model for the same number of
epochs from the Trainer's own input pipeline (components.train_input.make_dataset, cached: raw examples ->
Transform graph -> cache -> shuffle -> batch -> prefetch) and from the same images held in memory as one
array (the upper bound), after one warm-up epoch each. Ratio target >= 0.9.

--compare paths: the Trainer's two input paths, cached and streamed (decoded anew every epoch), each in a
process of its own so that each has its own peak resident memory, both at once so that both see the same
load. After a pass that fills the cache (cached path only), --epochs of training with validation, as the
Trainer runs them. Images/s (training images over the epochs' wall time, validation included), CPU seconds
an image (steadier under load), peak resident memory; ratios streamed / cached. The cached run takes the
whole decoded set in memory: 270 KB an image at 150x150.

    .venv/bin/python bench/trainer_throughput.py --run runs/bench-tutorial/run [--model tutorial] [--epochs 2]
    .venv/bin/python bench/trainer_throughput.py --run /work/data/run30k --compare paths --model tutorial --epochs 1
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np
import psutil
import record  # noqa: E402  bench/record.py and bench/run_artifacts.py: a script's own folder is on sys.path
import run_artifacts  # noqa: E402
import tensorflow as tf
import tf_keras as keras

from components import models, train_input, training_settings


def _images_per_second(model, dataset, n_images, epochs):
    model.fit(dataset, epochs=1, verbose=0)  # warm-up: fills the cache, traces the graph
    start = time.perf_counter()
    model.fit(dataset, epochs=epochs, verbose=0)
    return n_images * epochs / (time.perf_counter() - start)


# --train-cache-memory-share for each path: all of memory caches any set that fits; a tenth of it (2.4 GB on
# the 24 GB machine) streams the 30,000-image set and still holds its encoded training split in the shuffle.
PATH_MEMORY_SHARES = {train_input.CACHE: 1.0, train_input.STREAM: 0.1}


def compare_array(args) -> None:
    data = run_artifacts.load(args.run)
    pipeline_input = data.dataset("train", args.batch_size, data.input_plan(1.0), shuffle_seed=1)
    images, labels = [], []
    for x, y in pipeline_input.unbatch():
        images.append(x.numpy())
        labels.append(y.numpy())
    images, labels = np.stack(images), np.stack(labels)
    in_memory = (
        tf.data.Dataset.from_tensor_slices((images, labels))
        .shuffle(len(images), seed=1, reshuffle_each_iteration=True)
        .batch(args.batch_size)
        .prefetch(tf.data.AUTOTUNE)
    )

    rates = {}
    for name, dataset in (("in_memory", in_memory), ("trainer_input", pipeline_input)):
        keras.utils.set_random_seed(1)
        model = models.build(args.model, images.shape[1:])
        model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
        rates[name] = _images_per_second(model, dataset, len(images), args.epochs)
    record.save(
        f"trainer_throughput-{args.model}",
        {
            "model": args.model,
            "images": len(images),
            "epochs_timed": args.epochs,
            "in_memory_images_per_s": round(rates["in_memory"], 1),
            "trainer_input_images_per_s": round(rates["trainer_input"], 1),
            "ratio": round(rates["trainer_input"] / rates["in_memory"], 3),
        },
    )


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def one_path(args) -> dict:
    """Trains on one input path in this process; its figures, with the peak resident memory of the process."""
    data = run_artifacts.load(args.run)
    plan = data.input_plan(PATH_MEMORY_SHARES[args.path])
    assert plan.path == args.path, plan.reason()
    train = data.dataset("train", args.batch_size, plan, shuffle_seed=1)
    val = data.dataset("eval", args.batch_size, plan)
    fill_seconds = 0.0
    if plan.cache:
        start = time.perf_counter()
        for dataset in (train, val):
            for _ in dataset:
                pass
        fill_seconds = time.perf_counter() - start
    keras.utils.set_random_seed(1)
    model = models.build(args.model, data.image_shape)
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    start, cpu = time.perf_counter(), _cpu_seconds()
    history = model.fit(train, validation_data=val, epochs=args.epochs, verbose=2)
    seconds, cpu = time.perf_counter() - start, _cpu_seconds() - cpu
    n_train = data.count("train")
    return {
        "path": plan.path,
        "reason": plan.reason(),
        "shuffle_buffer": plan.shuffle_buffer,
        "train_images": n_train,
        "eval_images": data.count("eval"),
        "cache_fill_seconds": round(fill_seconds, 1),
        "epochs_seconds": round(seconds, 1),
        "images_per_s": round(n_train * args.epochs / seconds, 1),
        "cpu_seconds_per_image": round(cpu / (n_train * args.epochs), 4),
        "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
        "val_accuracy": [round(v, 4) for v in history.history["val_accuracy"]],
        "load_average_after": [round(v, 2) for v in os.getloadavg()],
    }


def _wait_for_memory(needed_bytes: int) -> None:
    """On a shared machine, the cached run waits until its decoded set fits in the available memory."""
    while psutil.virtual_memory().available < needed_bytes:
        print(f"waiting for {needed_bytes / 2**30:.1f} GiB of available memory", file=sys.stderr)
        time.sleep(30)


def compare_paths(args) -> None:
    """Both paths at once, one process each: on a shared machine both see the same load (run one after the
    other, the first measured ran at a load average of 9 and the second at 2: a ratio of 0.47 that was load)."""
    decoded_bytes = run_artifacts.load(args.run).input_plan(1.0).decoded_bytes
    # Both resident at once: the cached set, a quarter more for TensorFlow and the batches, and the streamed run.
    _wait_for_memory(int(decoded_bytes * 1.25) + 2 * 2**30)
    processes = {
        path: subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--run",
                args.run,
                "--model",
                args.model,
                "--batch-size",
                str(args.batch_size),
                "--epochs",
                str(args.epochs),
                "--path",
                path,
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        for path in (train_input.STREAM, train_input.CACHE)
    }
    results = {}
    for path, process in processes.items():
        out, _ = process.communicate()
        if process.returncode:
            raise SystemExit(f"the {path} run failed ({process.returncode})")
        results[path] = json.loads(out.strip().splitlines()[-1])
    stream, cache = results[train_input.STREAM], results[train_input.CACHE]
    record.save(
        f"trainer_paths-{args.model}",
        {
            "model": args.model,
            "epochs_timed": args.epochs,
            "ran": "both at once, a process each",
            **results,
            "images_per_s_ratio_stream_to_cache": round(stream["images_per_s"] / cache["images_per_s"], 3),
            "cpu_per_image_ratio_cache_to_stream": round(
                cache["cpu_seconds_per_image"] / stream["cpu_seconds_per_image"], 3
            ),
            "peak_rss_ratio_stream_to_cache": round(stream["peak_rss_gb"] / cache["peak_rss_gb"], 3),
        },
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True, help="a `catdog run` output directory")
    parser.add_argument("--model", default=training_settings.DEFAULT_PRESET)
    parser.add_argument("--batch-size", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--compare", choices=("array", "paths"), default="array")
    parser.add_argument("--path", choices=tuple(PATH_MEMORY_SHARES), help=argparse.SUPPRESS)  # one --compare paths run
    args = parser.parse_args()
    if args.path:
        print(json.dumps(one_path(args)))
    elif args.compare == "paths":
        compare_paths(args)
    else:
        compare_array(args)


if __name__ == "__main__":
    main()
