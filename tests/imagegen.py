"""Small generated image datasets, so tests run anywhere without the real data."""

import io
import random
import zipfile
from collections.abc import Iterable

from PIL import Image, ImageDraw

FORMATS = {"jpg": "JPEG", "png": "PNG", "gif": "GIF", "bmp": "BMP"}


def image_bytes(kind: int, size=(96, 80), fmt: str = "jpg", seed: int = 0) -> bytes:
    """A picture that a tiny CNN can tell apart by class: warm circles (0) or cool squares (1)."""
    rng = random.Random(seed * 2 + kind)
    background = (200, 120, 60) if kind == 0 else (60, 120, 200)
    image = Image.new("RGB", size, background)
    draw = ImageDraw.Draw(image)
    for _ in range(4):
        x, y = rng.randrange(size[0]), rng.randrange(size[1])
        r = rng.randrange(5, 20)
        color = tuple(rng.randrange(256) for _ in range(3))
        (draw.ellipse if kind == 0 else draw.rectangle)([x - r, y - r, x + r, y + r], fill=color)
    out = io.BytesIO()
    image.save(out, FORMATS[fmt])
    return out.getvalue()


def write_zip(path, files: dict[str, bytes]) -> str:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return str(path)


def class_folder_files(
    per_class: int,
    classes: Iterable[str] = ("cats", "dogs"),
    prefix: str = "",
    formats: Iterable[str] = ("jpg",),
    seed: int = 0,
    sizes: Iterable | None = None,
) -> dict[str, bytes]:
    """{"<prefix><class>/<class>.<i>.<ext>": bytes}, cycling through formats and sizes."""
    formats = list(formats)
    sizes = list(sizes or [(96, 80), (64, 64), (120, 90)])
    files = {}
    for kind, name in enumerate(classes):
        for i in range(per_class):
            fmt = formats[i % len(formats)]
            files[f"{prefix}{name}/{name}.{i}.{fmt}"] = image_bytes(kind % 2, sizes[i % len(sizes)], fmt, seed=seed + i)
    return files


def split_dataset(path, train_per_class: int = 30, eval_per_class: int = 10, root: str = "data/") -> str:
    """The tutorial's layout: <root>train/{cats,dogs}, <root>validation/{cats,dogs}."""
    files = class_folder_files(train_per_class, prefix=f"{root}train/", formats=("jpg", "png"))
    files.update(class_folder_files(eval_per_class, prefix=f"{root}validation/", seed=1000))
    return write_zip(path, files)
