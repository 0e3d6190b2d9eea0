"""The Trainer's strategy choice (components/distribution.py): which strategy, which task is the chief, where each
worker writes. The training itself on two replicas and two workers: tests/test_distribution.py."""

import json
import os

import pytest

from components import distribution, training_settings


def test_the_command_line_offers_the_strategies_the_trainer_knows():
    assert training_settings.DISTRIBUTION_STRATEGIES == distribution.STRATEGIES


@pytest.mark.parametrize(
    "machines, gpus, chosen",
    [
        (2, 0, distribution.MULTI_WORKER),
        (3, 2, distribution.MULTI_WORKER),
        (1, 1, distribution.MIRRORED),
        (1, 4, distribution.MIRRORED),
        (1, 0, distribution.DEFAULT),
    ],
)
def test_auto_takes_the_cluster_then_the_gpus_then_one_device(machines, gpus, chosen):
    assert distribution._resolve(distribution.AUTO, gpus, machines)[0] == chosen
    assert distribution._resolve(distribution.MIRRORED, gpus, machines)[0] == distribution.MIRRORED


def test_the_cluster_and_the_task_come_from_tf_config(monkeypatch):
    cluster = {"chief": ["127.0.0.1:1"], "worker": ["127.0.0.1:2", "127.0.0.1:3"]}
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": cluster, "task": {"type": "worker", "index": 1}}))
    assert distribution.cluster_task() == ("worker", 1, 3, True)
    monkeypatch.delenv("TF_CONFIG")
    assert distribution.cluster_task() == (None, 0, 1, False)


@pytest.mark.parametrize(
    "task_type, index, has_chief, chief",
    [
        ("chief", 0, True, True),
        ("worker", 0, True, False),
        ("worker", 0, False, True),
        ("worker", 1, False, False),
        (None, 0, False, True),
    ],
)
def test_the_chief_is_the_chief_else_worker_0(task_type, index, has_chief, chief):
    assert distribution.is_chief(task_type, index, has_chief) is chief


def test_workers_other_than_the_chief_write_to_their_own_temporary_folders(tmp_path):
    import tensorflow as tf

    def placement(task_type, index, chief):
        return distribution.Placement(
            tf.distribute.get_strategy(), distribution.MULTI_WORKER, "", (), 2, task_type, index, chief, False
        )

    serving = str(tmp_path / "Format-Serving")
    assert placement("chief", 0, True).output_dir(serving) == serving
    own = placement("worker", 0, False).output_dir(serving)
    assert own == str(tmp_path / "workertemp_worker_0" / "Format-Serving")
    os.makedirs(own)
    placement("worker", 0, False).finish(serving)
    assert not os.path.exists(os.path.dirname(own))
