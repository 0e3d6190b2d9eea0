"""The tutorial's way, for comparison: the same model in plain Keras, fed by image_dataset_from_directory.

Prints one JSON line: {"val_accuracy": last epoch, "best_val_accuracy", "best_epoch", "epochs"}.
"""

import argparse
import json
import os
import sys
import tempfile
import zipfile

import tf_keras as keras

from components import models, training_settings
from components.ingest import layout


def _split_dirs(root: str):
    """train/ and validation/ (or val/, test/) folders, wherever the zip put them."""
    found = {}
    for dirpath, dirnames, _ in os.walk(root):
        for d in dirnames:
            split = layout.SPLIT_FOLDERS.get(d.lower())
            if split and split not in found:
                found[split] = os.path.join(dirpath, d)
    return found[layout.TRAIN], found[layout.EVAL]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", required=True)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--batch-size", type=int, default=20)
    parser.add_argument("--image-size", type=int, default=150)
    parser.add_argument("--model", default=training_settings.DEFAULT_PRESET)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    keras.utils.set_random_seed(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        with zipfile.ZipFile(args.data) as zf:
            zf.extractall(tmp)
        train_dir, val_dir = _split_dirs(tmp)
        size = (args.image_size, args.image_size)
        common = dict(label_mode="binary", image_size=size, batch_size=args.batch_size, seed=args.seed)
        rescale = keras.layers.Rescaling(1.0 / 255)
        train = keras.utils.image_dataset_from_directory(train_dir, shuffle=True, **common)
        val = keras.utils.image_dataset_from_directory(val_dir, shuffle=False, **common)
        train = train.map(lambda x, y: (rescale(x), y))
        val = val.map(lambda x, y: (rescale(x), y))
        model = models.build(args.model, size + (3,))
        model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
        history = model.fit(train, validation_data=val, epochs=args.epochs, verbose=2).history
    val_accuracy = history["val_accuracy"]
    best = max(range(len(val_accuracy)), key=val_accuracy.__getitem__)
    json.dump(
        {
            "val_accuracy": val_accuracy[-1],
            "best_val_accuracy": val_accuracy[best],
            "best_epoch": best + 1,
            "epochs": args.epochs,
        },
        sys.stdout,
    )
    print()


if __name__ == "__main__":
    main()
