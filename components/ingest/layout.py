"""Reads a zip's folder layout: which files belong to which split and class. Nothing is extracted to disk."""

import dataclasses
import hashlib
import posixpath
import zipfile
import zlib
from typing import Dict, List, Optional, Tuple

from components import limits
from components.ingest.errors import DatasetError
from pipeline.settings import RunSettings

TRAIN = "train"
EVAL = "eval"
SPLITS = (TRAIN, EVAL)
# Images to score (--score-data): one split, no labels.
SCORE = "score"
UNLABELLED = "(unlabelled)"  # what the ingest report counts them under
# Top folder names (lower case) and the split they feed.
SPLIT_FOLDERS = {"train": TRAIN, "training": TRAIN, "validation": EVAL, "val": EVAL, "test": EVAL, "eval": EVAL}
_JUNK = ("__MACOSX/", ".DS_Store", "Thumbs.db")


@dataclasses.dataclass(frozen=True)
class Entry:
    member: str  # path inside the zip
    split: str
    label: Optional[int]  # None: an image to score


@dataclasses.dataclass
class Layout:
    class_names: List[str]
    entries: List[Entry]
    # Files that sit outside any class folder: (member, reason).
    skipped: List[Tuple[str, str]]
    split_by_hash: bool
    splits: Tuple[str, ...] = SPLITS

    def count_key(self, entry: Entry) -> str:
        """The name the ingest report counts the entry under: its class, or UNLABELLED."""
        return UNLABELLED if entry.label is None else self.class_names[entry.label]

    @property
    def count_keys(self) -> List[str]:
        return self.class_names or [UNLABELLED]


def hash_split(member: str, eval_percent: int) -> str:
    """The same file name always lands in the same split, whatever else the zip holds."""
    bucket = int(hashlib.sha256(member.encode("utf-8")).hexdigest(), 16) % 100
    return EVAL if bucket < eval_percent else TRAIN


def _is_junk(member: str) -> bool:
    base = posixpath.basename(member)
    return member.startswith(_JUNK[0]) or base in _JUNK[1:] or base.startswith("._")


def _split_folder_index(parts: List[str]) -> int:
    """Index of the split folder in split/class/file, or -1."""
    i = len(parts) - 3
    return i if i >= 0 and parts[i].lower() in SPLIT_FOLDERS else -1


class UnreadableMember(DatasetError):
    """One file in the zip cannot be used; the others can."""

    def __init__(self, member: str, reason: str):
        super().__init__(f"{member}: {reason}")
        self.member = member
        self.reason = reason


def read_member(zf: zipfile.ZipFile, member: str, max_bytes: int = limits.MAX_ZIP_MEMBER_BYTES) -> bytes:
    """The member's bytes, never more than max_bytes in memory whatever its header claims."""
    try:
        with zf.open(member) as f:
            data = f.read(max_bytes + 1)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError, RuntimeError) as e:
        # a bad CRC, a truncated stream, an unknown compression method or an encrypted member
        raise UnreadableMember(member, f"unreadable in the zip ({e})") from e
    if len(data) > max_bytes:
        raise UnreadableMember(member, f"holds more than the {max_bytes:,} bytes allowed for one file "
                                       f"(its header says {zf.getinfo(member).file_size:,})")
    return data


def _usable_members(infos: List[zipfile.ZipInfo]) -> Tuple[List[str], List[Tuple[str, str]]]:
    """(member names, [(member, reason)] for entries refused on their header alone)."""
    last = {info.filename: info for info in infos}  # what ZipFile.read(name) returns: the last of a name
    members, skipped = [], []
    for info in infos:
        if last[info.filename] is not info:
            skipped.append((info.filename, "duplicate name in the zip: a later entry with this name is used"))
        elif info.file_size > limits.MAX_ZIP_MEMBER_BYTES:
            skipped.append((info.filename, f"declares {info.file_size:,} bytes uncompressed, more than the "
                                           f"{limits.MAX_ZIP_MEMBER_BYTES:,} allowed for one file"))
        else:
            members.append(info.filename)
    return members, skipped


def read_layout(zip_path: str, eval_percent: int = RunSettings.eval_percent, source: str = "",
                unlabelled: bool = False) -> Layout:
    """Splits and classes from the folders; unlabelled: every file to score, in one split, without a label."""
    source = source or zip_path
    if not zipfile.is_zipfile(zip_path):
        raise DatasetError(f"{source}: not a zip file")
    try:
        with zipfile.ZipFile(zip_path) as zf:
            infos = [i for i in zf.infolist() if not i.is_dir() and not _is_junk(i.filename)]
    except (zipfile.BadZipFile, OSError) as e:
        raise DatasetError(f"{source}: unreadable zip: {e}") from e
    if not infos:
        raise DatasetError(f"{source}: the zip holds no files")
    members, skipped = _usable_members(infos)
    if not members:
        raise DatasetError(f"{source}: the zip holds no usable file ({skipped[0][0]}: {skipped[0][1]})")
    if unlabelled:
        # New photos sit anywhere: no folder is needed, and none is taken for a class (its path, kept as the
        # file name, still shows it).
        return Layout([], [Entry(m, SCORE, None) for m in sorted(members)], skipped, False, (SCORE,))

    split_by_hash = not any(_split_folder_index(m.split("/")) >= 0 for m in members)
    placed: List[Tuple[str, str, str]] = []  # (member, split, class name)
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

    class_names = sorted({c for _, _, c in placed})
    if len(class_names) != 2:
        found = ", ".join(class_names) or "none"
        raise DatasetError(f"{source}: expected exactly 2 class folders, found {len(class_names)} ({found})")
    per_split: Dict[str, set] = {s: set() for s in SPLITS}
    for _, split, name in placed:
        per_split[split].add(name)
    for split in SPLITS:
        missing = [c for c in class_names if c not in per_split[split]]
        if missing:
            raise DatasetError(f"{source}: split {split!r} has no files of class {', '.join(missing)}")
    index = {name: i for i, name in enumerate(class_names)}
    entries = [Entry(m, split, index[name]) for m, split, name in placed]
    return Layout(class_names, entries, skipped, split_by_hash)
