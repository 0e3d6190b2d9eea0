"""A dataset's folder layout: which of its files belong to which split and class. The rules do not depend on
where the files are (zip, folder, prefix: components/ingest/sources.py lists them)."""

import dataclasses
import hashlib

from components.ingest import sources
from components.ingest.errors import DatasetError

TRAIN = "train"
EVAL = "eval"
SPLITS = (TRAIN, EVAL)
# Images to score (--score-data): one split, no labels.
SCORE = "score"
UNLABELLED = "(unlabelled)"  # what the ingest report counts them under
# Top folder names (lower case) and the split they feed.
SPLIT_FOLDERS = {"train": TRAIN, "training": TRAIN, "validation": EVAL, "val": EVAL, "test": EVAL, "eval": EVAL}


@dataclasses.dataclass(frozen=True)
class Entry:
    member: str  # its name in the source: path inside the zip, or under the folder
    split: str
    label: int | None  # None: an image to score


@dataclasses.dataclass
class Layout:
    class_names: list[str]
    entries: list[Entry]
    # (member, reason): files refused on their listing (too big, a duplicate name) or outside any class folder.
    skipped: list[tuple[str, str]]
    split_by_hash: bool
    splits: tuple[str, ...] = SPLITS

    def count_key(self, entry: Entry) -> str:
        """The name the ingest report counts the entry under: its class, or UNLABELLED."""
        return UNLABELLED if entry.label is None else self.class_names[entry.label]

    @property
    def count_keys(self) -> list[str]:
        return self.class_names or [UNLABELLED]


def hash_split(member: str, eval_percent: int) -> str:
    """The same file name always lands in the same split, whatever else the zip holds."""
    bucket = int(hashlib.sha256(member.encode("utf-8")).hexdigest(), 16) % 100
    return EVAL if bucket < eval_percent else TRAIN


def _split_folder_index(parts: list[str]) -> int:
    """Index of the split folder in split/class/file, or -1."""
    i = len(parts) - 3
    return i if i >= 0 and parts[i].lower() in SPLIT_FOLDERS else -1


def place(listing: sources.Listing, eval_percent: int, unlabelled: bool = False) -> Layout:
    """Which listed file belongs to which split and class: the same rules for a zip, a folder and a prefix.
    unlabelled: every file is an image to score, in one split, without a label."""
    members, skipped = listing.usable()
    if unlabelled:
        # New photos sit anywhere: no folder is needed, and none is taken for a class (its path, kept as the
        # file name, still shows it).
        return Layout([], [Entry(m, SCORE, None) for m in sorted(members)], skipped, False, (SCORE,))
    split_by_hash = not any(_split_folder_index(m.split("/")) >= 0 for m in members)
    placed: list[tuple[str, str, str]] = []  # (member, split, class name)
    for member in sorted(members):
        parts = member.split("/")
        if split_by_hash:
            if len(parts) < 2:
                skipped.append((member, "not inside a class folder"))
                continue
            placed.append((member, hash_split(member, eval_percent), parts[-2]))
        else:
            i = _split_folder_index(parts)
            if i < 0:
                skipped.append((member, "not inside <split>/<class>/ (train/, validation/, val/ or test/)"))
                continue
            placed.append((member, SPLIT_FOLDERS[parts[i].lower()], parts[i + 1]))

    source = listing.source.name
    class_names = sorted({c for _, _, c in placed})
    if len(class_names) != 2:
        found = ", ".join(class_names) or "none"
        raise DatasetError(f"{source}: expected exactly 2 class folders, found {len(class_names)} ({found})")
    per_split: dict[str, set] = {s: set() for s in SPLITS}
    for _, split, name in placed:
        per_split[split].add(name)
    for split in SPLITS:
        missing = [c for c in class_names if c not in per_split[split]]
        if missing:
            raise DatasetError(f"{source}: split {split!r} has no files of class {', '.join(missing)}")
    index = {name: i for i, name in enumerate(class_names)}
    entries = [Entry(m, split, index[name]) for m, split, name in placed]
    return Layout(class_names, entries, skipped, split_by_hash)
