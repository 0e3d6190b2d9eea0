"""bench/heldout_check.py's draw: held-out images leave the training zip and nothing else does."""

import os
import sys
import zipfile

import imagegen
import pytest
from layouts import read_layout

from components.ingest import layout

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bench"))
import heldout_check  # noqa: E402


@pytest.fixture
def data_zip(tmp_path):
    return imagegen.split_dataset(str(tmp_path / "data.zip"), train_per_class=10, eval_per_class=3)


def _draw(data_zip, out, seed=1):
    out.mkdir(exist_ok=True)
    return heldout_check.hold_out(data_zip, 4, seed, str(out / "kept.zip"), str(out / "heldout"))


def test_held_out_images_leave_training_only(data_zip, tmp_path):
    heldout = _draw(data_zip, tmp_path)
    assert {name: len(paths) for name, paths in heldout.items()} == {"cats": 4, "dogs": 4}
    kept = read_layout(str(tmp_path / "kept.zip"))
    counts = {(split, label): 0 for split in layout.SPLITS for label in (0, 1)}
    for entry in kept.entries:
        counts[entry.split, entry.label] += 1
    assert counts == {("train", 0): 6, ("train", 1): 6, ("eval", 0): 3, ("eval", 1): 3}
    kept_names = {os.path.basename(e.member) for e in kept.entries if e.split == layout.TRAIN}
    held_names = {os.path.basename(p) for paths in heldout.values() for p in paths}
    assert not kept_names & held_names
    with zipfile.ZipFile(data_zip) as source:
        originals = {os.path.basename(m): source.read(m) for m in source.namelist() if "/train/" in m}
    for paths in heldout.values():
        for path in paths:
            with open(path, "rb") as f:
                assert f.read() == originals[os.path.basename(path)]


def test_the_draw_follows_the_seed_and_replaces_an_earlier_one(data_zip, tmp_path):
    first = _draw(data_zip, tmp_path, seed=1)
    assert _draw(data_zip, tmp_path / "again", seed=1) == {
        k: [p.replace(str(tmp_path), str(tmp_path / "again")) for p in v] for k, v in first.items()
    }
    other = _draw(data_zip, tmp_path, seed=2)
    assert other != first
    on_disk = sorted(os.listdir(tmp_path / "heldout" / "cats"))
    assert on_disk == sorted(os.path.basename(p) for p in other["cats"])


def test_too_few_training_images_is_refused_by_name(data_zip, tmp_path):
    with pytest.raises(SystemExit, match=f"{data_zip}: class 'cats' has only 10 training images"):
        heldout_check.hold_out(data_zip, 10, 1, str(tmp_path / "kept.zip"), str(tmp_path / "heldout"))
