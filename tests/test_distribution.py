"""The Trainer over several replicas and several workers (components/distribution.py), for real on this CPU:
two logical CPU devices under MirroredStrategy, and two worker processes on loopback under
MultiWorkerMirroredStrategy, each the same all-reduce code a GPU machine or a Vertex AI cluster runs.

Each training runs run_fn in a process of its own (tests/trainer_runs.py): TensorFlow takes the logical
devices and the cluster only before it initialises, which this test session has long done."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from components import activation_cache, contract, distribution, models, train_input, trainer

# Each training waits at most 900 s for its process; the first test also sets up the session's pipeline run.
pytestmark = pytest.mark.timeout(2400)
TRAINER_RUNS = Path(__file__).with_name("trainer_runs.py")
PER_REPLICA_BATCH = 8
GLOBAL_BATCH = 2 * PER_REPLICA_BATCH  # two replicas
TRAIN_EXAMPLES = 80  # the session run's 40 + 40 training images
STEPS_PER_EPOCH = TRAIN_EXAMPLES // GLOBAL_BATCH
# The tutorial's CNN has no random layer: with the same seed, examples and order, one replica at the global
# batch computes the mean of the same gradients as two replicas all-reduced; only the order of the float sums
# differs, so the first epoch's loss agrees to about 1e-7 (measured), well within this.
SAME_LOSS_TOLERANCE = 1e-3
# The session run's 100 images are 27 MB decoded: a machine of 40 MB streams them at the default share (0.5).
STREAMING_MACHINE_BYTES = 40 * 10**6


def _free_ports(count: int):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _start(run_output: Path, out_dir: Path, config: dict, *options, tf_config=None) -> subprocess.Popen:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    env.pop("TF_CONFIG", None)
    if tf_config:
        env["TF_CONFIG"] = json.dumps(tf_config)
    out_dir.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(
        [sys.executable, str(TRAINER_RUNS), str(run_output), str(out_dir), json.dumps(config), *map(str, options)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )


def _finish(process: subprocess.Popen, timeout=900) -> None:
    output, _ = process.communicate(timeout=timeout)
    assert process.returncode == 0, output[-5000:]


def _train(run_output: Path, out_dir: Path, config: dict, *options) -> dict:
    _finish(_start(run_output, out_dir, config, *options))
    return _history(out_dir)


def _history(out_dir: Path) -> dict:
    return json.loads((out_dir / "model_run" / trainer.HISTORY_FILE).read_text())


def _replica_kernels(out_dir: Path, task: str = "alone") -> np.ndarray:
    return np.array(json.loads((out_dir / f"replicas-{task}.json").read_text())["kernels"])


def _check_exported_model_is_what_the_replicas_trained(out_dir: Path, kernels: np.ndarray) -> None:
    """The replicas hold one model (all-reduced steps), the export loads, holds it, and answers."""
    import imagegen
    import tensorflow as tf

    from insight import saved_model

    assert np.array_equal(kernels[0], kernels[-1])
    model = saved_model.load(str(out_dir / "serving"))
    np.testing.assert_allclose(model.get_layer("probability").kernel.numpy().ravel(), kernels[0], rtol=1e-6)
    images = [imagegen.image_bytes(label, seed=900 + label) for label in (0, 1)]
    by_bytes = model.signatures[contract.IMAGE_BYTES_SIGNATURE](**{contract.IMAGE_BYTES_INPUT: tf.constant(images)})
    examples = [
        tf.train.Example(
            features=tf.train.Features(
                feature={contract.IMAGE_RAW_KEY: tf.train.Feature(bytes_list=tf.train.BytesList(value=[image]))}
            )
        ).SerializeToString()
        for image in images
    ]
    by_example = model.signatures[contract.TF_EXAMPLE_SIGNATURE](**{contract.TF_EXAMPLE_INPUT: tf.constant(examples)})
    probabilities = by_bytes[contract.PROBABILITY_OUTPUT].numpy()
    assert probabilities.shape == (2,) and np.all((probabilities >= 0) & (probabilities <= 1))
    np.testing.assert_allclose(by_example[contract.PROBABILITY_OUTPUT].numpy(), probabilities, rtol=1e-5)


def _check_two_replicas(history: dict, epochs: int, last_phase_rate: float) -> None:
    placed = history["distribution"]
    assert placed["strategy"] == distribution.MIRRORED and placed["replicas"] == 2 and placed["workers"] == 1
    assert [d.rsplit("/", 1)[-1] for d in placed["devices"]] == ["device:CPU:0", "device:CPU:1"]
    assert placed["global_batch"] == GLOBAL_BATCH and placed["steps_per_epoch"] == STEPS_PER_EPOCH
    assert placed["steps_run"] == [STEPS_PER_EPOCH] * epochs
    assert placed["last_phase_learning_rate"] == pytest.approx(2 * last_phase_rate)  # the linear scaling rule
    assert not placed["mixed_precision"]  # no GPU here


TUTORIAL = {"model_preset": "tutorial", "epochs": 2, "seed": 7, "deterministic": True}


@pytest.fixture(scope="module")
def one_replica_tutorial(pipeline_run, tmp_path_factory):
    """The tutorial preset on one device at the two replicas' global batch and (scaled) learning rate."""
    out_dir = tmp_path_factory.mktemp("one-replica")
    rate = 2 * models.preset("tutorial").recipe.learning_rate
    config = {
        **TUTORIAL,
        "batch_size": GLOBAL_BATCH,
        "learning_rate": rate,
        "distribution_strategy": distribution.DEFAULT,
    }
    history = _train(pipeline_run.output, out_dir, config, "--memory-bytes", STREAMING_MACHINE_BYTES)
    assert history["distribution"]["replicas"] == 1 and history["distribution"]["steps_run"] == [STEPS_PER_EPOCH] * 2
    return history


def test_from_scratch_preset_streamed_on_two_replicas_keeps_its_best_epoch_and_learns_as_one(
    pipeline_run, one_replica_tutorial, tmp_path
):
    config = {**TUTORIAL, "batch_size": PER_REPLICA_BATCH, "distribution_strategy": distribution.MIRRORED}
    history = _train(
        pipeline_run.output, tmp_path, config, "--logical-cpus", 2, "--memory-bytes", STREAMING_MACHINE_BYTES
    )
    _check_two_replicas(history, epochs=2, last_phase_rate=models.preset("tutorial").recipe.learning_rate)
    assert history["input"]["path"] == train_input.STREAM
    assert history["kept_by"] == "best validation"
    best = int(np.argmax(history["history"]["val_accuracy"]))  # the first of equals, as EarlyStopping keeps
    assert history["kept_epoch"] == best + 1
    assert history["history"]["loss"][0] == pytest.approx(
        one_replica_tutorial["history"]["loss"][0], rel=SAME_LOSS_TOLERANCE
    )
    _check_exported_model_is_what_the_replicas_trained(tmp_path, _replica_kernels(tmp_path))


@pytest.mark.parametrize("preset", ["augmented", "residual"])
def test_augmented_from_scratch_presets_train_cached_on_two_replicas(pipeline_run, tmp_path, preset):
    config = {
        "model_preset": preset,
        "epochs": 2,
        "seed": 7,
        "batch_size": PER_REPLICA_BATCH,
        "distribution_strategy": distribution.MIRRORED,
    }
    history = _train(pipeline_run.output, tmp_path, config, "--logical-cpus", 2)
    recipe = models.preset(preset).recipe
    _check_two_replicas(history, epochs=2, last_phase_rate=recipe.learning_rate)
    assert history["input"]["path"] == train_input.CACHE and history["kept_by"] == "best validation"
    _check_exported_model_is_what_the_replicas_trained(tmp_path, _replica_kernels(tmp_path))


def test_both_phases_of_the_pretrained_preset_train_on_two_replicas(pipeline_run, backbone_weights, tmp_path):
    config = {
        "model_preset": "mobilenet",
        "epochs": 1,
        "fine_tune_epochs": 1,
        "seed": 7,
        "batch_size": PER_REPLICA_BATCH,
        "backbone_weights": str(backbone_weights),
        "distribution_strategy": distribution.MIRRORED,
    }
    history = _train(pipeline_run.output, tmp_path, config, "--logical-cpus", 2)
    recipe = models.preset("mobilenet").recipe
    _check_two_replicas(history, epochs=2, last_phase_rate=recipe.fine_tune_learning_rate)
    # The frozen part's activations, computed once, feed both phases on the replicas.
    assert history["phase_epochs"] == [1, 1] and history["input"]["path"] == activation_cache.ACTIVATIONS
    assert history["kept_by"] == "last epoch of a fixed schedule" and history["kept_epoch"] == 2
    _check_exported_model_is_what_the_replicas_trained(tmp_path, _replica_kernels(tmp_path))


def test_two_workers_train_one_model_that_the_chief_alone_exports(pipeline_run, one_replica_tutorial, tmp_path):
    """A chief and a worker on loopback (TF_CONFIG), as Vertex AI Training runs two worker pools: both share
    the output folders (an object store in a cluster), as TFX hands every worker the same ones."""
    chief, worker = (f"127.0.0.1:{port}" for port in _free_ports(2))
    cluster = {"chief": [chief], "worker": [worker]}
    config = {**TUTORIAL, "batch_size": PER_REPLICA_BATCH}  # auto: TF_CONFIG names the cluster
    processes = [
        _start(
            pipeline_run.output,
            tmp_path,
            config,
            "--memory-bytes",
            STREAMING_MACHINE_BYTES,
            tf_config={"cluster": cluster, "task": {"type": task, "index": 0}},
        )
        for task in ("chief", "worker")
    ]
    for process in processes:
        _finish(process)
    history = _history(tmp_path)
    placed = history["distribution"]
    assert placed["strategy"] == distribution.MULTI_WORKER and placed["reason"].startswith("auto")
    assert (
        placed["workers"] == 2
        and placed["replicas"] == 2
        and placed["task"] == {"type": "chief", "index": 0, "chief": True}
    )
    # Each step takes the global batch from both workers' shares: unsharded, each worker would run twice the steps.
    assert placed["global_batch"] == GLOBAL_BATCH and placed["steps_run"] == [STEPS_PER_EPOCH] * 2
    assert history["history"]["loss"][0] == pytest.approx(
        one_replica_tutorial["history"]["loss"][0], rel=SAME_LOSS_TOLERANCE
    )
    chief_kernels, worker_kernels = _replica_kernels(tmp_path, "chief-0"), _replica_kernels(tmp_path, "worker-0")
    np.testing.assert_array_equal(chief_kernels, worker_kernels)
    _check_exported_model_is_what_the_replicas_trained(tmp_path, chief_kernels)
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_dir()) == ["model_run", "serving"]  # no worker's left
