"""Shared fixtures. `pipeline_run` runs the real pipeline once per test session on generated images;
tests of serving, Kubeflow and the reports reuse what it pushed."""

import dataclasses
import os
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


def run_catdog(*args, timeout=900) -> CommandResult:
    """Runs the `catdog` command as a user would, in a fresh process."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", *map(str, args)],
        capture_output=True, text=True, timeout=timeout, env=env,
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
        return sorted(p.name for p in self.serving_dir.iterdir() if p.name.isdigit()) if self.serving_dir.exists() else []

    @property
    def latest_model(self) -> Path:
        return self.serving_dir / self.versions()[-1]


SHARED_WEIGHTS = Path(__file__).resolve().parents[2] / "shared" / "weights" / "mobilenet_1_0_224_tf_no_top.h5"


@pytest.fixture(scope="session")
def backbone_weights(tmp_path_factory) -> Path:
    """MobileNet's ImageNet weights where shared/ has them; else a file of the same layout with seeded random
    weights, so the tests run anywhere (what they check does not need ImageNet's features)."""
    if SHARED_WEIGHTS.is_file():
        return SHARED_WEIGHTS
    import tf_keras as keras

    keras.utils.set_random_seed(0)
    path = tmp_path_factory.mktemp("weights") / SHARED_WEIGHTS.name
    keras.applications.MobileNet(input_shape=(224, 224, 3), include_top=False, weights=None).save_weights(str(path))
    return path


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
