"""Issue 6's input-speed check: is the Trainer input-bound?

Trains the same model for the same number of epochs from the Trainer's own input pipeline
(components.trainer.make_dataset: raw examples -> Transform graph -> cache -> shuffle -> batch -> prefetch)
and from the same images held in memory as one array (the upper bound), after one warm-up epoch each.
Prints one JSON object with images/s for both and their ratio (target >= 0.9).

    .venv/bin/python bench/trainer_throughput.py --run runs/bench-tutorial/run [--model tutorial] [--epochs 2]
"""

import argparse
import time

import numpy as np
import tensorflow as tf
import tf_keras as keras

from components import models
from pipeline import settings
import record  # noqa: E402  bench/record.py and bench/run_artifacts.py: a script's own folder is on sys.path
import run_artifacts  # noqa: E402


def _images_per_second(model, dataset, n_images, epochs):
    model.fit(dataset, epochs=1, verbose=0)  # warm-up: fills the cache, traces the graph
    start = time.perf_counter()
    model.fit(dataset, epochs=epochs, verbose=0)
    return n_images * epochs / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True, help="a `catdog run` output directory")
    parser.add_argument("--model", default=settings.DEFAULT_PRESET)
    parser.add_argument("--batch-size", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()

    pipeline_input = run_artifacts.load(args.run).dataset("train", args.batch_size, shuffle_seed=1)
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
    record.save(f"trainer_throughput-{args.model}", {
        "model": args.model,
        "images": len(images),
        "epochs_timed": args.epochs,
        "in_memory_images_per_s": round(rates["in_memory"], 1),
        "trainer_input_images_per_s": round(rates["trainer_input"], 1),
        "ratio": round(rates["trainer_input"] / rates["in_memory"], 3),
    })


if __name__ == "__main__":
    main()
