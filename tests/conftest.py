"""Shared fixtures. `pipeline_run` runs the real pipeline once per test session on generated images;
tests of serving, Kubeflow and the reports reuse what it pushed."""

import dataclasses
import io
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, os.path.dirname(__file__))
import imagegen  # noqa: E402


@dataclasses.dataclass
class CommandResult:
    returncode: int
    stdout: str
    stderr: str


def run_catdog(*args, timeout=900, max_file_bytes=None) -> CommandResult:
    """Runs the `catdog` command as a user would, in a fresh process. With max_file_bytes, a write past that
    size fails (RLIMIT_FSIZE; Python ignores SIGXFSZ, so the write raises EFBIG): a test of a runaway copy fails
    instead of filling the disk."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")

    def limit_file_size():
        resource.setrlimit(resource.RLIMIT_FSIZE, (max_file_bytes, max_file_bytes))

    proc = subprocess.run(
        [sys.executable, "-m", "cli.main", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        preexec_fn=limit_file_size if max_file_bytes else None,
    )
    return CommandResult(proc.returncode, proc.stdout, proc.stderr)


@dataclasses.dataclass
class PipelineRun:
    data_zip: Path
    output: Path
    result: CommandResult
    train_args: tuple  # the run's training flags: the same again reuses its cached Trainer

    @property
    def serving_dir(self) -> Path:
        return self.output / "serving" / "catdog"

    def versions(self):
        return (
            sorted(p.name for p in self.serving_dir.iterdir() if p.name.isdigit()) if self.serving_dir.exists() else []
        )

    @property
    def latest_model(self) -> Path:
        return self.serving_dir / self.versions()[-1]


SHARED_WEIGHTS = Path(__file__).resolve().parents[2] / "shared" / "weights" / "mobilenet_1_0_224_tf_no_top.h5"


def _backbone_pretrained_on_generated_images(path: Path) -> Path:
    """A MobileNet weights file for machines without shared/: random weights are no backbone (their features
    vanish to ~1e-20 through 13 blocks, so every image scores the same), so the backbone is pretrained for a
    minute on generated images (like ImageNet pretraining, on another set of the same kind of pictures)."""
    import numpy as np
    import tf_keras as keras
    from PIL import Image

    keras.utils.set_random_seed(0)
    backbone = keras.applications.MobileNet(input_shape=(224, 224, 3), include_top=False, weights=None)
    batch_norms = [layer for layer in backbone.layers if isinstance(layer, keras.layers.BatchNormalization)]
    images = np.stack(
        [
            np.asarray(
                Image.open(io.BytesIO(imagegen.image_bytes(i % 2, seed=5000 + i))).convert("RGB").resize((224, 224)),
                np.float32,
            )
            / 127.5
            - 1  # MobileNet's input range
            for i in range(128)
        ]
    )
    labels = np.arange(128) % 2
    for layer in batch_norms:  # one pass sets each moving statistic to the data's: features stop vanishing
        layer.momentum = 0.0
    backbone(images, training=True)
    for layer in batch_norms:
        layer.momentum = 0.9
    model = keras.Sequential([backbone, keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(1, "sigmoid")])
    model.compile(keras.optimizers.Adam(1e-3), "binary_crossentropy")
    model.fit(images, labels, epochs=3, batch_size=32, verbose=0)
    backbone.save_weights(str(path))
    return path


@pytest.fixture(scope="session")
def backbone_weights(tmp_path_factory) -> Path:
    """MobileNet's ImageNet weights where shared/ has them; else a file of the same layout pretrained on
    generated images, so the tests run anywhere."""
    if SHARED_WEIGHTS.is_file():
        return SHARED_WEIGHTS
    return _backbone_pretrained_on_generated_images(tmp_path_factory.mktemp("weights") / SHARED_WEIGHTS.name)


@pytest.fixture(scope="session")
def pipeline_run(tmp_path_factory, backbone_weights) -> PipelineRun:
    """100 generated images (40+40 train, 10+10 validation), the default (pretrained) preset for 1 epoch in
    each phase, no accuracy floor: a pushed model."""
    root = tmp_path_factory.mktemp("pipeline")
    data = Path(imagegen.split_dataset(root / "data.zip", train_per_class=40, eval_per_class=10))
    output = root / "out"
    train_args = ("--epochs", 1, "--fine-tune-epochs", 1, "--backbone-weights", backbone_weights)
    result = run_catdog("run", "--data", data, "--output", output, *train_args, "--min-accuracy", 0)
    assert result.returncode == 0, result.stderr[-5000:]
    return PipelineRun(data, output, result, train_args)
