"""The Trainer's input (components/train_input.py): cached in memory when the decoded images fit the budget,
streamed otherwise; the choice is recorded, and either way the model learns the same."""

import json

import pytest
from trainer_runs import fn_args as _fn_args

from components import train_input, trainer

DECODED = 150 * 150 * 3 * 4  # a 150x150 RGB float32 image


@pytest.mark.parametrize("share, path", [(0.5, train_input.CACHE), (0.1, train_input.STREAM)])
def test_cache_when_the_decoded_images_fit_the_share_of_memory(share, path):
    # 2,000 + 1,000 images: 0.81 GB decoded; the budget is 1 GB at 0.5 of 2 GB, 0.2 GB at 0.1.
    plan = train_input.plan(2000, 1000, DECODED, 25_000, share, memory_bytes=2 * 10**9)
    assert plan.path == path
    assert plan.decoded_bytes == 3000 * DECODED and plan.budget_bytes == int(share * 2 * 10**9)
    assert ("fit the budget" if plan.cache else "exceed the budget") in plan.reason()
    assert plan.shuffle_buffer == 2000  # both shuffle the whole training split


def test_the_stream_shuffles_no_more_encoded_images_than_the_budget_holds():
    plan = train_input.plan(2000, 1000, DECODED, 100_000, 0.01, memory_bytes=10**9)
    assert plan.path == train_input.STREAM and plan.shuffle_buffer == 100  # 10 MB of 100 KB examples


def test_a_container_limit_below_the_machine_memory_is_the_memory(tmp_path, monkeypatch):
    v2, v1 = tmp_path / "memory.max", tmp_path / "memory.limit_in_bytes"
    v2.write_text("max\n")  # cgroup v2 without a limit
    v1.write_text("1073741824\n")
    monkeypatch.setattr(train_input, "_CGROUP_LIMIT_FILES", (str(v2), str(v1)))
    assert train_input.machine_memory_bytes() == 2**30
    v1.write_text(f"{2**62}\n")  # cgroup v1 without a limit: a huge number
    monkeypatch.setattr(train_input, "_CGROUP_LIMIT_FILES", (str(v2), str(v1), str(tmp_path / "missing")))
    assert 0 < train_input.machine_memory_bytes() < 2**62


def test_the_trainer_streams_when_the_budget_is_small_and_learns_the_same(pipeline_run, tmp_path, monkeypatch):
    from tensorflow.python.framework import config as tf_config

    # The run's 100 generated images (80 training) are 27 MB decoded: a 40 MB machine caches them with all
    # of its memory and streams them with half.
    monkeypatch.setattr(train_input, "machine_memory_bytes", lambda: 40 * 10**6)
    histories = {}
    try:
        for share in (1.0, 0.5):
            config = {
                "model_preset": "tutorial",
                "epochs": 3,
                "seed": 7,
                "deterministic": True,
                "train_cache_memory_share": share,
            }
            fn_args = _fn_args(pipeline_run.output, tmp_path / str(share), config)
            trainer.run_fn(fn_args)
            with open(f"{fn_args.model_run_dir}/{trainer.HISTORY_FILE}") as f:
                histories[share] = json.load(f)
    finally:
        tf_config.disable_op_determinism()  # the rest of the session runs as usual
    cached, streamed = histories[1.0], histories[0.5]
    assert cached["input"]["path"] == train_input.CACHE and streamed["input"]["path"] == train_input.STREAM
    assert streamed["input"]["budget_bytes"] == 20 * 10**6 < streamed["input"]["decoded_bytes"]
    assert streamed["input"]["shuffle_buffer"] == cached["input"]["shuffle_buffer"] == 80
    # The same seed, the same order of examples, the same pixels: the same training, epoch by epoch.
    assert streamed["history"]["val_accuracy"] == pytest.approx(cached["history"]["val_accuracy"])
    assert streamed["history"]["loss"] == pytest.approx(cached["history"]["loss"], rel=1e-4)
    assert cached["history"]["val_accuracy"][-1] > 0.5
