"""Beam's portable runner as a tested setting: `catdog run` sends its Beam components' jobs through Beam's own job
service into SDK workers of an external worker pool (docs/beam.md), the way Flink's and Spark's job servers and
Dataflow Runner v2 run Python, and still pushes."""

import re

import imagegen
import pytest
from beam_portable import BEAM_COMPONENTS, jobs_and_workers, portable_runner
from conftest import run_catdog

pytestmark = pytest.mark.timeout(3600)


def test_catdog_run_on_the_portable_runner_runs_each_beam_component_as_a_job_and_pushes(tmp_path):
    data = imagegen.split_dataset(tmp_path / "data.zip", train_per_class=10, eval_per_class=5)
    with portable_runner(tmp_path) as beam_args:
        result = run_catdog(
            "run",
            "--data",
            data,
            "--output",
            tmp_path / "out",
            "--model",
            "tutorial",
            "--epochs",
            1,
            "--min-accuracy",
            0,
            "--beam-arg",
            *beam_args,
            timeout=2400,
        )
    assert result.returncode == 0, result.stderr[-5000:]
    assert re.search(r"Model pushed to .*/serving/catdog/\d+", result.stdout)
    jobs, workers = jobs_and_workers(tmp_path)
    assert len(jobs) >= BEAM_COMPONENTS and len(workers) >= BEAM_COMPONENTS
