"""What a dataset holds: image counts per split and class, and a grid of sample images with their labels."""

import dataclasses
import os
from collections.abc import Callable, Iterable, Sequence

from components import limits
from components.ingest import layout, sources
from components.ingest.sources import UnreadableMember
from insight import image_grid
from insight.errors import InsightError
from insight.images import decode_rgb

SAMPLES_FILE = "samples.png"
SAMPLES_PER_CLASS = 6

Counts = dict[str, dict[str, int]]  # split -> class name -> images; the shape of the ingest report's counts
# (label, file name, a function returning its bytes): bytes are read only for the images shown.
Record = tuple[int, str, Callable[[], bytes]]


def count_rows(class_names: Sequence[str], counts: Counts) -> list[list[str]]:
    """A header and one row per split, then totals: the same table in the terminal and in the HTML report."""
    rows = [["split", *class_names, "total"]]
    for split in layout.SPLITS:  # train first, whatever order the JSON kept
        values = [counts.get(split, {}).get(name, 0) for name in class_names]
        rows.append([split, *map(str, values), str(sum(values))])
    totals = [sum(counts.get(s, {}).get(name, 0) for s in layout.SPLITS) for name in class_names]
    rows.append(["total", *map(str, totals), str(sum(totals))])
    return rows


def format_table(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths)))
        for row in rows
    )


def save_sample_grid(
    records: Iterable[Record], class_names: Sequence[str], path: str, per_class: int = SAMPLES_PER_CLASS
) -> list[tuple[str, str]]:
    """The first decodable images of each class, class after class.

    Returns (file, reason) for each image that did not decode."""
    tiles: dict[int, list[image_grid.Tile]] = {label: [] for label in range(len(class_names))}
    unreadable = []
    for label, filename, read in records:
        if len(tiles[label]) >= per_class:
            if all(len(t) >= per_class for t in tiles.values()):
                break
            continue
        try:
            image = decode_rgb(read(), filename)
        except InsightError as e:
            unreadable.append((filename, str(e)))
            continue
        except UnreadableMember as e:  # over the size limit, or damaged in the zip
            unreadable.append((filename, e.reason))
            continue
        tiles[label].append(image_grid.Tile(image, f"{class_names[label]}\n{os.path.basename(filename)}"))
    shown = [tile for label in sorted(tiles) for tile in tiles[label]]
    if not shown:
        raise InsightError(f"{path}: no decodable image to show")
    image_grid.save_grid(shown, path, "Sample training images (label, file)", columns=per_class)
    return unreadable


@dataclasses.dataclass
class DataInspection:
    class_names: list[str]
    counts: Counts  # files per split and class, as laid out in the data (decoding is checked at ingestion)
    skipped: list[tuple[str, str]]  # (file, reason): outside any class folder
    unreadable: list[tuple[str, str]]  # (file, reason): met while picking samples
    samples_png: str

    def table(self) -> str:
        return format_table(count_rows(self.class_names, self.counts))


def inspect_data(
    data_uri: str, out_dir: str, eval_percent: int, download_timeout_seconds: float = limits.DOWNLOAD_TIMEOUT_SECONDS
) -> DataInspection:
    """Reads the data directly, with the ingestion's own folder rules: no pipeline run."""
    source = sources.resolve(data_uri, progress=True, timeout_seconds=download_timeout_seconds)
    data = layout.place(source.list_files(), eval_percent)
    counts = {split: {name: 0 for name in data.class_names} for split in layout.SPLITS}
    for entry in data.entries:
        counts[entry.split][data.class_names[entry.label]] += 1
    samples_png = os.path.join(out_dir, SAMPLES_FILE)
    with source.open() as reader:
        records = (
            (e.label, e.member, lambda m=e.member: reader.read(m)) for e in data.entries if e.split == layout.TRAIN
        )
        unreadable = save_sample_grid(records, data.class_names, samples_png)
    return DataInspection(data.class_names, counts, data.skipped, unreadable, samples_png)
