"""Issue 11's recipe check: the pretrained preset at the backbone's input sizes, with and without augmentation.

Trains `mobilenet` by its recipe (head on the frozen backbone, then fine-tuning of the top blocks) from the
Trainer's own input pipeline on a finished run's examples, once per variant, in one process so the variants
share the machine's load. Validation accuracy is the last epoch's (a fixed schedule, as the Trainer keeps).
Writes bench/results/backbone_recipe.json.

    .venv/bin/python bench/backbone_recipe.py --run runs/base \
        [--weights ../shared/weights/mobilenet_1_0_224_tf_no_top.h5]
        [--variants 150:0,224:0,224:1]   # input size : augmentation
"""

import argparse
import json
import math
import os
import resource
import time

import run_artifacts  # noqa: E402
import tf_keras as keras

from components import models, trainer

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

DEFAULT_WEIGHTS = os.path.join(os.path.dirname(REPO), "shared", "weights", models.MOBILENET_WEIGHTS_FILE)


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True, help="a `catdog run` output directory (its examples and Transform)")
    parser.add_argument("--weights", default=DEFAULT_WEIGHTS)
    parser.add_argument("--variants", default="150:0,224:0,224:1")
    args = parser.parse_args()

    data = run_artifacts.load(args.run)
    config = trainer.TrainConfig(model_preset="mobilenet")
    preset = models.preset(config.model_preset)
    plan = data.input_plan(config.train_cache_memory_share)
    train = data.dataset("train", config.batch_size, plan, shuffle_seed=config.seed)
    val = data.dataset("eval", config.batch_size, plan)
    steps = math.ceil(data.count("train") / config.batch_size)
    results = []
    for variant in args.variants.split(","):
        size, augment = (int(v) for v in variant.split(":"))
        keras.utils.set_random_seed(config.seed)
        model = models.mobilenet(data.image_shape, args.weights, input_size=size, augment=bool(augment))
        wall, cpu = time.perf_counter(), _cpu_seconds()
        record = trainer.fit(model, preset, config, trainer.images_in_every_phase(model, train, val), steps, [])
        wall, cpu = time.perf_counter() - wall, _cpu_seconds() - cpu
        epochs = len(record["history"]["loss"])
        results.append(
            {
                "input_size": size,
                "augmentation": bool(augment),
                "val_accuracy_last_epoch": round(record["history"]["val_accuracy"][-1], 4),
                "val_accuracy_per_epoch": [round(v, 4) for v in record["history"]["val_accuracy"]],
                "phase_epochs": record["phase_epochs"],
                "wall_s": round(wall, 1),
                "cpu_s": round(cpu, 1),
                "wall_s_per_epoch": round(wall / epochs, 1),
            }
        )
        print(json.dumps(results[-1]), flush=True)
    base = results[0]
    for r in results:
        r["wall_ratio_to_first"] = round(r["wall_s"] / base["wall_s"], 2)
        r["cpu_ratio_to_first"] = round(r["cpu_s"] / base["cpu_s"], 2)
    report = {
        "run": args.run,
        "recipe": record["recipe"],
        "batch_size": config.batch_size,
        "train_images": data.count("train"),
        "val_images": data.count("eval"),
        "variants": results,
    }
    record.save("backbone_recipe", report)


if __name__ == "__main__":
    main()
