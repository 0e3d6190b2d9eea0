"""Exact duplicate images (the same bytes, by sha256) within a split and across train and eval.

A photo in both splits is one the model trained on and is then scored on: it inflates validation
accuracy, so its eval copies are dropped unless the run keeps them (--keep-cross-split-duplicates).
Copies within one split are reported, not dropped: they leak nothing between the splits, and a user
may repeat images on purpose (oversampling); which copy to keep is the user's call.

Only (sha256, split, file) travels through the GroupByKey; the eval images are filtered against the
(small) set of dropped eval files, a side input, so nothing big is shuffled on a distributed runner, and
only the eval images wait for the groups.
"""

import collections
import dataclasses
import hashlib
from collections.abc import Iterable
from typing import Any, NamedTuple

import apache_beam as beam

from components.ingest import layout

# Names of the counts in ingest_report.json's "duplicates" and of the Examples artifact's custom properties.
WITHIN_SPLIT = "duplicate_groups_within_split"
ACROSS_SPLITS = "duplicate_groups_across_splits"
DROPPED = "dropped_eval_duplicates"
COUNTS = (WITHIN_SPLIT, ACROSS_SPLITS, DROPPED)


class Image(NamedTuple):
    """One decodable image, as the reader yields it."""

    split: str
    file: str
    sha256: str
    example: bytes  # the serialized tf.Example


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclasses.dataclass(frozen=True)
class Group:
    """Files that hold the same bytes: (split, file) pairs, sorted."""

    sha256: str
    files: tuple[tuple[str, str], ...]

    @property
    def splits(self) -> collections.Counter:
        return collections.Counter(split for split, _ in self.files)

    @property
    def within_split(self) -> bool:
        return max(self.splits.values()) > 1

    @property
    def across_splits(self) -> bool:
        return len(self.splits) > 1


@dataclasses.dataclass(frozen=True)
class Duplicates:
    groups: tuple[Group, ...]
    dropped: tuple[str, ...]  # eval files kept out of the examples
    kept_cross_split: bool

    def to_json(self) -> dict[str, Any]:
        """What ingest_report.json holds under "duplicates"."""
        return {
            WITHIN_SPLIT: sum(g.within_split for g in self.groups),
            ACROSS_SPLITS: sum(g.across_splits for g in self.groups),
            DROPPED: len(self.dropped),
            "keep_cross_split_duplicates": self.kept_cross_split,
            "dropped": list(self.dropped),
            "groups": [
                {"sha256": g.sha256, "files": [{"split": s, "file": f} for s, f in g.files]} for g in self.groups
            ],
        }


def decide(groups: Iterable[tuple[str, Iterable[tuple[str, str]]]], keep_cross_split: bool) -> Duplicates:
    """From (sha256, [(split, file), ...]) by hash (a single file is no group): the groups, and the eval
    files to drop (every eval copy of an image that is also in train, unless keep_cross_split)."""
    found = sorted((Group(sha, tuple(sorted(files))) for sha, files in groups), key=lambda g: g.files)
    found = tuple(g for g in found if len(g.files) > 1)
    dropped = (
        ()
        if keep_cross_split
        else tuple(sorted(f for g in found if g.across_splits for split, f in g.files if split == layout.EVAL))
    )
    return Duplicates(found, dropped, keep_cross_split)


class FindDuplicates(beam.PTransform):
    """Images -> (the images that stay, a one-element PCollection of the Duplicates)."""

    def __init__(self, keep_cross_split: bool):
        super().__init__()
        self._keep_cross_split = keep_cross_split

    def expand(self, images):
        found = (
            images
            | "HashKeys" >> beam.Map(lambda image: (image.sha256, (image.split, image.file)))
            | "ByHash" >> beam.GroupByKey()
            | "FileLists" >> beam.MapTuple(lambda sha, files: (sha, list(files)))  # from a lazy iterable
            | "Repeated" >> beam.Filter(lambda hash_and_files: len(hash_and_files[1]) > 1)
            | "AllGroups" >> beam.combiners.ToList()
            | "Decide" >> beam.Map(decide, self._keep_cross_split)
        )
        if self._keep_cross_split:
            return images, found  # nothing to drop: no need to wait for the groups
        dropped = found | "DroppedFiles" >> beam.Map(lambda d: frozenset(d.dropped))
        # Only eval images wait for the side input (a runner holds what waits): the others go on to be written.
        others, evals = images | "BySplit" >> beam.Partition(lambda image, _: int(image.split == layout.EVAL), 2)
        kept_evals = evals | "DropEvalCopies" >> beam.Filter(
            lambda image, drop: image.file not in drop, drop=beam.pvalue.AsSingleton(dropped)
        )
        return (others, kept_evals) | "Kept" >> beam.Flatten(), found
