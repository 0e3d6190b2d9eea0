"""Issue 24's recipe search on cached activations: what the flipped copy and each phase's epochs buy.

From a finished run's examples (the Trainer's own input pipeline), the frozen part's activations are computed
once, for every training image and its horizontal flip and for the validation images, with the time of the
decoding alone and of decoding plus the forward measured apart. Then every variant trains the default preset
from them as the Trainer does (components.trainer.CachedActivations and fit), seed after seed, in one process
so the variants share the machine's load. A variant is copies:head_epochs:fine_tune_epochs[:fine_tune_learning_rate]
(copies 1: the images as they are; 2: each epoch takes an image or its flip at random; the rate: the preset's when
left out). Writes bench/results/<name>.json.

    .venv/bin/python bench/cached_recipe.py --run RUN_DIR [--variants 2:5:5,1:5:5,...] [--seeds 42 7 1234]
        [--weights ../shared/weights/mobilenet_1_0_224_tf_no_top.h5] [--name cached_recipe]
"""

import argparse
import dataclasses
import math
import os
import resource
import statistics
import time

import record
import run_artifacts  # noqa: E402
import tf_keras as keras
from tfx.components.util import tfxio_utils

from components import activation_cache, models, train_input, trainer

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_WEIGHTS = os.path.join(os.path.dirname(REPO), "shared", "weights", models.MOBILENET_WEIGHTS_FILE)


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class _Clock:
    def __enter__(self):
        self.wall, self.cpu = time.perf_counter(), _cpu_seconds()
        return self

    def __exit__(self, *_):
        self.wall, self.cpu = round(time.perf_counter() - self.wall, 1), round(_cpu_seconds() - self.cpu, 1)

    def figures(self) -> dict:
        return {"wall_s": self.wall, "cpu_s": self.cpu}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True, help="a `catdog run` output directory (its examples and Transform)")
    parser.add_argument("--weights", default=DEFAULT_WEIGHTS)
    parser.add_argument("--variants", default="2:5:5,1:5:5,2:5:3,2:5:2,2:3:2")
    parser.add_argument("--seeds", type=int, nargs="+", default=[42, 7, 1234])
    parser.add_argument("--name", default="cached_recipe")
    args = parser.parse_args()

    data = run_artifacts.load(args.run)
    preset = models.preset("mobilenet")

    class Accessor:  # the one part of the Trainer's DataAccessor that read_once uses
        tf_dataset_factory = tfxio_utils.get_tf_dataset_factory_from_artifact([data.examples], [])

    def images(split):
        return train_input.read_once(data.files(split), Accessor, data.transform_output, activation_cache.FORWARD_BATCH)

    model = models.mobilenet(data.image_shape, args.weights, augment=False)
    frozen = keras.Model(model.input, model.get_layer(preset.frozen_through).output)
    with _Clock() as decode:
        decoded = sum(int(batch.shape[0]) for batch, _ in images("train"))
    activation_cost = {"decode_only_train": {"images": decoded, **decode.figures()}}
    cached = {}
    for split, copies in (("train", 2), ("eval", 1)):
        with _Clock() as clock:
            cached[split] = activation_cache.compute(frozen, images(split), data.count(split), copies)
        activation_cost[f"{split}_x{copies}"] = {"images": data.count(split) * copies, **clock.figures()}
    print(activation_cost, flush=True)

    results = []
    for variant in args.variants.split(","):
        copies, head_epochs, fine_tune_epochs = (int(v) for v in variant.split(":")[:3])
        fine_tune_learning_rate = float(variant.split(":")[3]) if variant.count(":") == 3 else None
        runs = []
        for seed in args.seeds:
            config = trainer.TrainConfig(
                model_preset="mobilenet",
                epochs=head_epochs,
                fine_tune_epochs=fine_tune_epochs,
                fine_tune_learning_rate=fine_tune_learning_rate,
                seed=seed,
            )
            batch_size = config.batch_size
            trainer.seed_and_determinism(config)
            model = models.mobilenet(data.image_shape, args.weights, augment=False)
            activations, labels = cached["train"]
            inputs = trainer.CachedActivations(
                model, preset, (activations[:, :copies], labels), cached["eval"], batch_size, seed
            )
            steps = math.ceil(data.count("train") / batch_size)
            with _Clock() as clock:
                history = trainer.fit(model, preset, config, inputs, steps, [])["history"]
            runs.append(
                {
                    "seed": seed,
                    "val_accuracy": round(history["val_accuracy"][-1], 4),
                    "val_accuracy_per_epoch": [round(v, 4) for v in history["val_accuracy"]],
                    **clock.figures(),
                }
            )
            print(variant, runs[-1], flush=True)
        accuracies = [r["val_accuracy"] for r in runs]
        results.append(
            {
                "variant": variant,
                "copies": copies,
                "head_epochs": head_epochs,
                "fine_tune_epochs": fine_tune_epochs,
                "fine_tune_learning_rate": fine_tune_learning_rate or preset.recipe.fine_tune_learning_rate,
                "val_accuracy_mean": round(statistics.mean(accuracies), 4),
                "val_accuracy_spread": round(max(accuracies) - min(accuracies), 4),
                "train_cpu_s_mean": round(statistics.mean(r["cpu_s"] for r in runs), 1),
                "runs": runs,
            }
        )
        print({k: v for k, v in results[-1].items() if k != "runs"}, flush=True)
    record.save(
        args.name,
        {
            "run": args.run,
            "recipe": dataclasses.asdict(preset.recipe),
            "activation_cost": activation_cost,
            "variants": results,
        },
    )


if __name__ == "__main__":
    main()
