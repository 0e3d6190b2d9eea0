"""Which features and which threshold make components/ood.py's score honest: measured on one trained model.

The model's exported Keras layers give, for the zip's training and validation images, two candidate features:
the pooled features the sigmoid unit reads (after the fine-tuned top blocks) and the pooled output of the part
that stays frozen (ImageNet's, never fitted to these images). For each: the threshold from the training scores
themselves (in-sample) and from out-of-fold training scores (each fifth scored by a fit on the other four), and
the share flagged on validation images, on scikit-image's photos and on generated images (bench/ood_check.py's
sets), with the ROC AUC of validation against the other two.

    .venv/bin/python bench/ood_fit_choice.py MODEL_DIR [--data ZIP] [--name ood_fit_choice]
"""

import argparse
import os
import sys
import zipfile

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
import ood_check  # noqa: E402
import record  # noqa: E402

BATCH = 50


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model_dir")
    parser.add_argument("--data", default=ood_check.DEFAULT_DATA)
    parser.add_argument("--name", default="ood_fit_choice")
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tf_keras as keras
    from sklearn.metrics import roc_auc_score

    from components import models, ood
    from insight import saved_model

    loaded = saved_model.load(args.model_dir)
    outputs = {
        "top": models.features_tensor(loaded),
        "frozen": keras.layers.GlobalAveragePooling2D()(loaded.get_layer(models.MOBILENET_FROZEN_THROUGH).output),
    }
    extractor = keras.Model(loaded.inputs, outputs)

    def features(images):
        parts = []
        for start in range(0, len(images), BATCH):
            batch = saved_model.model_input(loaded, images[start : start + BATCH])
            parts.append({k: v.numpy() for k, v in extractor(batch, training=False).items()})
        return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}

    with zipfile.ZipFile(args.data) as z:
        train_names = sorted(n for n in z.namelist() if "/train/" in n and n.endswith(".jpg"))
        train = features([z.read(n) for n in train_names])
    train_labels = np.array([0 if "/cats/" in n else 1 for n in train_names])
    sets = {
        "validation": list(ood_check.validation_images(args.data).values()),
        "skimage_photos": list(ood_check.skimage_photos().values()),
        "generated": list(ood_check.generated_images().values()),
    }
    scored = {name: features(images) for name, images in sets.items()}

    result = {}
    for kind in ("top", "frozen"):
        layer = models.features_layer(loaded) if kind == "top" else models.MOBILENET_FROZEN_THROUGH
        fit = ood.fit(layer, train[kind], train_labels, 2)  # its threshold: out of fold
        thresholds = {
            "in_sample": float(np.quantile(ood.scores(fit, train[kind]), ood.IN_DISTRIBUTION_SHARE)),
            "out_of_fold": fit.threshold,
        }
        scores = {name: ood.scores(fit, f[kind]) for name, f in scored.items()}
        labels = np.concatenate(
            [np.zeros(len(scores["validation"])), np.ones(len(scores["skimage_photos"]) + len(scores["generated"]))]
        )
        result[kind] = {
            "features": int(train[kind].shape[1]),
            "roc_auc_validation_vs_neither": round(
                float(
                    roc_auc_score(
                        labels, np.concatenate([scores["validation"], scores["skimage_photos"], scores["generated"]])
                    )
                ),
                4,
            ),
            "thresholds": {
                how: {
                    "threshold": round(t, 2),
                    **{f"flagged_{name}": round(float(np.mean(s > t)), 4) for name, s in scores.items()},
                }
                for how, t in thresholds.items()
            },
        }
    record.save(
        args.name, {"model": os.path.abspath(args.model_dir), "training_images": len(train_labels), "choices": result}
    )


if __name__ == "__main__":
    main()
