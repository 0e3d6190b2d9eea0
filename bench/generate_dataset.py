"""Writes a seeded, labelled cats-vs-dogs image set of realistic size, for benchmarks at scale.

Each image is a 300-500 px JPEG (about 15-40 KB, like the tutorial's photos): a textured, noisy background
with small clutter of both kinds, and one to three large textured objects that carry the class: rounded
blobs (ellipses) for cats, angular ones (rectangles, triangles, stars) for dogs. Colours, sizes, positions,
blur and JPEG quality are drawn from the same distributions for both classes, so a CNN must learn shape
(mean colour says nothing), as with tests/imagegen.py's circles and squares but with a photo's entropy.

Layout as the tutorial's zip: <root>/train/{cats,dogs}/cat.<i>.jpg, <root>/validation/{cats,dogs}/...
(--validation-share of each class, default 1/3 as in the tutorial's 2,000/1,000).

    .venv/bin/python bench/generate_dataset.py --count 30000 --out /work/data/gen30k.zip --seed 0
    .venv/bin/python bench/generate_dataset.py --count 3000 --out /work/data/gen3k   # a folder
"""

import argparse
import io
import math
import multiprocessing
import os
import time
import zipfile

import numpy as np
import record  # noqa: E402  bench/record.py: a script's own folder is on sys.path
from PIL import Image, ImageDraw, ImageFilter

CLASSES = (("cats", "cat"), ("dogs", "dog"))


def _smooth_noise(rng: np.random.Generator, height: int, width: int, cells: int) -> np.ndarray:
    """Noise in [0, 1] that varies over about `cells` cells per side: clouds, fur, lighting."""
    small = rng.random((cells + 1, cells + 1, 3)).astype(np.float32)
    image = Image.fromarray((small * 255).astype(np.uint8)).resize((width, height), Image.BICUBIC)
    return np.asarray(image, np.float32) / 255.0


def _texture(rng: np.random.Generator, height: int, width: int, color: np.ndarray) -> np.ndarray:
    """A colour with low- and high-frequency variation (lighting, fur), so the JPEG costs what a photo costs."""
    base = color[None, None, :] * (0.6 + 0.8 * _smooth_noise(rng, height, width, int(rng.integers(2, 6))))
    detail = _smooth_noise(rng, height, width, max(2, int(min(height, width) * rng.uniform(0.05, 0.15))))
    return base + 60.0 * (detail - 0.5)


def _polygon(rng: np.random.Generator, cx: float, cy: float, r: float) -> list:
    """Points of an angular shape (a dog's cue): a rotated rectangle, triangle or star."""
    angle = rng.uniform(0, 2 * math.pi)
    shape = int(rng.integers(3))
    if shape == 0:
        aspect = rng.uniform(0.5, 1.0)
        corners = [(1, aspect), (-1, aspect), (-1, -aspect), (1, -aspect)]
        radii_angles = [(math.hypot(x, y), math.atan2(y, x)) for x, y in corners]
    elif shape == 1:
        radii_angles = [(1.0, a * 2 * math.pi / 3) for a in range(3)]
    else:
        points = int(rng.integers(4, 7))
        radii_angles = [(1.0 if i % 2 == 0 else 0.45, i * math.pi / points) for i in range(2 * points)]
    return [(cx + r * d * math.cos(a + angle), cy + r * d * math.sin(a + angle)) for d, a in radii_angles]


def _draw_shape(mask_draw: ImageDraw.ImageDraw, rng: np.random.Generator, kind: int, cx, cy, r) -> None:
    if kind == 0:
        rx, ry = r, r * rng.uniform(0.55, 1.0)
        mask_draw.ellipse([cx - rx, cy - ry, cx + rx, cy + ry], fill=255)
    else:
        mask_draw.polygon(_polygon(rng, cx, cy, r), fill=255)


def _random_color(rng: np.random.Generator) -> np.ndarray:
    return rng.uniform(30, 225, 3).astype(np.float32)


def image_bytes(kind: int, seed: int) -> bytes:
    """One JPEG of class `kind` (0: rounded objects, 1: angular objects), the same for the same seed."""
    rng = np.random.default_rng(seed)
    width, height = int(rng.integers(300, 501)), int(rng.integers(300, 501))
    pixels = _texture(rng, height, width, _random_color(rng))
    layers = [(int(rng.integers(2)), rng.uniform(0.03, 0.08)) for _ in range(int(rng.integers(3, 9)))]
    layers += [(kind, rng.uniform(0.18, 0.32)) for _ in range(int(rng.integers(1, 4)))]
    for shape_kind, relative_size in layers:  # clutter of both kinds first, then the class's objects
        r = relative_size * min(width, height)
        cx, cy = rng.uniform(r * 0.5, width - r * 0.5), rng.uniform(r * 0.5, height - r * 0.5)
        # Drawn in its bounding box only (a rectangle's corners reach sqrt(2) r; room for the soft edge): most
        # of the cost is per pixel.
        reach = 1.42 * r
        x0, y0 = max(0, int(cx - reach) - 4), max(0, int(cy - reach) - 4)
        x1, y1 = min(width, int(cx + reach) + 5), min(height, int(cy + reach) + 5)
        mask = Image.new("L", (x1 - x0, y1 - y0), 0)
        _draw_shape(ImageDraw.Draw(mask), rng, shape_kind, cx - x0, cy - y0, r)
        alpha = np.asarray(mask.filter(ImageFilter.GaussianBlur(rng.uniform(0.5, 2.5))), np.float32)[..., None] / 255
        box = pixels[y0:y1, x0:x1]
        box += (_texture(rng, y1 - y0, x1 - x0, _random_color(rng)) - box) * alpha
    pixels += rng.normal(0.0, rng.uniform(2.0, 6.0), (height, width, 1)).astype(np.float32)  # sensor grain
    image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    if rng.random() < 0.3:
        image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0.5, 1.5)))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=int(rng.integers(70, 86)))
    return out.getvalue()


def plan(count: int, validation_share: float, root: str) -> list:
    """[(member name, class index)]: half of `count` per class, the last `validation_share` of each to validation."""
    members = []
    for kind, (folder, stem) in enumerate(CLASSES):
        per_class = count // 2 + (count % 2 if kind == 0 else 0)
        n_validation = round(per_class * validation_share)
        for i in range(per_class):
            split = "validation" if i >= per_class - n_validation else "train"
            members.append((f"{root}{split}/{folder}/{stem}.{i}.jpg", kind))
    return members


def _make(job):
    name, kind, seed = job
    return name, image_bytes(kind, seed)


def generate(count: int, out: str, seed: int = 0, validation_share: float = 1 / 3, processes=None) -> dict:
    """Writes the set as a zip (`out` ends in .zip) or a folder tree; returns counts, bytes and seconds."""
    as_zip = out.endswith(".zip")
    root = os.path.splitext(os.path.basename(out.rstrip("/")))[0] + "/" if as_zip else ""
    # Each image's seed depends on the run's seed and the image's position only, so any process count
    # writes the same bytes.
    jobs = [(name, kind, seed * 10_000_019 + i) for i, (name, kind) in enumerate(plan(count, validation_share, root))]
    start = time.perf_counter()
    total_bytes, sizes = 0, []
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    archive = zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) if as_zip else None  # JPEGs do not deflate
    try:
        with multiprocessing.Pool(processes) as pool:
            for name, data in pool.imap(_make, jobs, chunksize=16):
                if archive is not None:
                    archive.writestr(name, data)
                else:
                    path = os.path.join(out, name)
                    os.makedirs(os.path.dirname(path), exist_ok=True)
                    with open(path, "wb") as f:
                        f.write(data)
                sizes.append(len(data))
                total_bytes += len(data)
    finally:
        if archive is not None:
            archive.close()
    sizes.sort()
    return {
        "images": len(jobs),
        "validation_share": validation_share,
        "seed": seed,
        "out": out,
        "image_kb": {
            "p5": sizes[len(sizes) // 20] / 1024,
            "median": sizes[len(sizes) // 2] / 1024,
            "p95": sizes[len(sizes) * 19 // 20] / 1024,
        },
        "total_mb": total_bytes / 2**20,
        "seconds": time.perf_counter() - start,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, required=True, help="images in all (half per class)")
    parser.add_argument("--out", required=True, help="a .zip path, or a folder")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--validation-share", type=float, default=1 / 3)
    parser.add_argument("--processes", type=int, default=None, help="default: one per core")
    args = parser.parse_args()
    if args.count < 2 or not 0 <= args.validation_share < 1:
        parser.error("--count must be at least 2 and --validation-share in [0, 1)")
    summary = generate(args.count, args.out, args.seed, args.validation_share, args.processes)
    record.save(f"generate_dataset-{args.count}", summary)


if __name__ == "__main__":
    main()
