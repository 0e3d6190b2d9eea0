"""Issue 24's "neither" figures: the share of images an exported model flags as out of distribution.

Three sets through the model's serving_default signature (encoded image files in, as clients send them):
- the zip's validation images (cats and dogs: every flag is a cost),
- scikit-image's bundled sample photos that are neither class (its wheel ships them; `chelsea`, a cat, left out),
- generated images: uniform and Gaussian noise, blank images of several colours, stripes, checkerboards, gradients.
Also how well each score separates the validation images from the other two sets (ROC AUC, 1 = perfectly): the
model's Mahalanobis ood_score, and the energy score of its logit (Liu et al. 2020; for one sigmoid unit with the
logits (-z/2, z/2) it is -logsumexp = a function of |z| alone, so it ranks as max-logit and the confidence do).

    .venv/bin/python bench/ood_check.py MODEL_DIR [--data ZIP] [--name ood_check]
(scikit-image: `uv pip install --python .venv/bin/python scikit-image==0.24.0 -c requirements.lock`)
"""

import argparse
import io
import os
import sys
import zipfile

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
import record  # noqa: E402  bench/record.py: a script's own folder is on sys.path

DEFAULT_DATA = os.path.join(os.path.dirname(REPO), "shared", "datasets", "cats_and_dogs_filtered.zip")
SKIMAGE_PHOTOS = (
    "astronaut",
    "coffee",
    "rocket",
    "stereo_motorcycle",
    "coins",
    "hubble_deep_field",
    "text",
    "page",
    "brick",
    "grass",
)
BATCH = 32


def png(array: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.asarray(array, np.uint8)).convert("RGB").save(buffer, "PNG")
    return buffer.getvalue()


def skimage_photos() -> dict:
    from skimage import data

    def photo(name):
        image = getattr(data, name)()
        return image[0] if name == "stereo_motorcycle" else image  # (left, right, disparity): the left view

    return {name: png(photo(name)) for name in SKIMAGE_PHOTOS}


def generated_images(side: int = 224) -> dict:
    rng = np.random.default_rng(0)
    ramp = np.linspace(0, 255, side)
    images = {
        "uniform_noise": rng.integers(0, 256, (side, side, 3)),
        "gray_noise": np.repeat(rng.integers(0, 256, (side, side, 1)), 3, axis=2),
        "gaussian_noise": np.clip(rng.normal(128, 40, (side, side, 3)), 0, 255),
        "horizontal_gradient": np.broadcast_to(ramp[None, :, None], (side, side, 3)),
        "colour_gradient": np.stack(
            [
                np.broadcast_to(ramp[None, :], (side, side)),
                np.broadcast_to(ramp[:, None], (side, side)),
                np.full((side, side), 128.0),
            ],
            axis=2,
        ),
    }
    for name, colour in [
        ("black", (0, 0, 0)),
        ("white", (255, 255, 255)),
        ("gray", (128, 128, 128)),
        ("red", (255, 0, 0)),
        ("green", (0, 160, 0)),
        ("blue", (0, 0, 255)),
    ]:
        images[f"blank_{name}"] = np.broadcast_to(np.array(colour), (side, side, 3))
    for period in (8, 32):
        stripes = (np.arange(side) // (period // 2)) % 2 * 255
        images[f"stripes_{period}"] = np.broadcast_to(stripes[None, :, None], (side, side, 3))
        squares = ((np.arange(side)[:, None] // period + np.arange(side)[None, :] // period) % 2) * 255
        images[f"checkerboard_{period}"] = np.repeat(squares[:, :, None], 3, axis=2)
    return {name: png(image) for name, image in images.items()}


def validation_images(zip_path: str) -> dict:
    with zipfile.ZipFile(zip_path) as z:
        return {
            n: z.read(n)
            for n in sorted(z.namelist())
            if "/validation/" in n and n.lower().endswith((".jpg", ".jpeg", ".png"))
        }


def predict(model_dir: str, images: dict) -> dict:
    import tensorflow as tf

    from components import contract

    signature = tf.saved_model.load(model_dir).signatures[contract.IMAGE_BYTES_SIGNATURE]
    names, outputs = list(images), []
    for start in range(0, len(names), BATCH):
        batch = tf.constant([images[n] for n in names[start : start + BATCH]])
        outputs.append({k: v.numpy() for k, v in signature(**{contract.IMAGE_BYTES_INPUT: batch}).items()})
    columns = {k: np.concatenate([o[k] for o in outputs]) for k in outputs[0]}
    return {"names": names, **columns}


def energy_ood_score(probability: np.ndarray) -> np.ndarray:
    """-energy of the symmetric logits (-z/2, z/2): higher means more in distribution; negated so higher means out."""
    p = np.clip(probability.astype(np.float64), 1e-7, 1 - 1e-7)
    z = np.abs(np.log(p / (1 - p)))
    return -(z / 2 + np.log1p(np.exp(-z)))


def summary(result: dict, per_image: bool) -> dict:
    from components import contract

    flagged = ~result[contract.IN_DISTRIBUTION_OUTPUT]
    out = {
        "images": len(result["names"]),
        "flagged": int(flagged.sum()),
        "flagged_share": round(float(flagged.mean()), 4),
        "ood_score_quantiles": {
            f"p{q}": round(float(np.percentile(result[contract.OOD_SCORE_OUTPUT], q)), 2) for q in (1, 50, 99)
        },
    }
    if per_image:
        out["per_image"] = {
            n: {
                "class_name": c.decode(),
                "probability": round(float(p), 3),
                "ood_score": round(float(s), 2),
                "neither": bool(f),
            }
            for n, c, p, s, f in zip(
                result["names"],
                result[contract.CLASS_NAME_OUTPUT],
                result[contract.PROBABILITY_OUTPUT],
                result[contract.OOD_SCORE_OUTPUT],
                flagged,
                strict=True,
            )
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model_dir")
    parser.add_argument("--data", default=DEFAULT_DATA)
    parser.add_argument("--name", default="ood_check")
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from sklearn.metrics import roc_auc_score

    from components import contract

    sets = {
        "validation": validation_images(args.data),
        "skimage_photos": skimage_photos(),
        "generated": generated_images(),
    }
    results = {name: predict(args.model_dir, images) for name, images in sets.items()}
    inside = results["validation"]
    outside = [results["skimage_photos"], results["generated"]]
    labels = np.concatenate([np.zeros(len(inside["names"])), np.ones(sum(len(r["names"]) for r in outside))])

    def auc(score):
        return round(float(roc_auc_score(labels, np.concatenate([score(inside)] + [score(r) for r in outside]))), 4)

    record.save(
        args.name,
        {
            "model": os.path.abspath(args.model_dir),
            "sets": {name: summary(result, per_image=name != "validation") for name, result in results.items()},
            "roc_auc_validation_vs_neither": {
                "mahalanobis_ood_score": auc(lambda r: r[contract.OOD_SCORE_OUTPUT]),
                "energy_of_the_logit": auc(lambda r: energy_ood_score(r[contract.PROBABILITY_OUTPUT])),
            },
        },
    )


if __name__ == "__main__":
    main()
