"""What the commands print: library notices filtered at their source unless --verbose, a run's progress from
TFX's LocalDagRunner records, the stage table. Fast: no pipeline runs (a run's real output is checked by
test_pipeline_e2e)."""

import os
import subprocess
import sys
import textwrap

from cli.main import build_parser
from pipeline import progress
from pipeline.run_summary import stage_table

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# Logs as the named library file would log them: a record's file is where the logging call is.
_LOG_FROM = """
from absl import logging as absl_logging

def log_from(path, level, message, *args):
    code = compile("absl_logging.log(level, message, *args)", "/venv/site-packages/" + path, "exec")
    exec(code, {"absl_logging": absl_logging, "level": level, "message": message, "args": args})
"""


def _python(code: str, env=None):
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env if env is not None else {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"},
    )


LIBRARY_NOISE = (
    _LOG_FROM
    + """
import os, sys, warnings
from cli import logs
logs.configure(verbose=sys.argv[-1] == "verbose")
print("TF_CPP_MIN_LOG_LEVEL", os.environ.get("TF_CPP_MIN_LOG_LEVEL"), flush=True)
warnings.warn_explicit("Python 3.10 past its support", FutureWarning, "x.py", 1,
                       module="google.api_core._python_version_support")
warnings.warn_explicit("a FutureWarning of another library", FutureWarning, "y.py", 1, module="somelib")
warnings.warn("the project's own warning")
log_from("tfx/orchestration/portable/input_resolution/channel_resolver.py", absl_logging.WARNING,
         "ArtifactQuery.property_predicate is not supported.")
log_from("tfx/orchestration/portable/input_resolution/channel_resolver.py", absl_logging.WARNING, "a real TFX warning")
log_from("tfx/orchestration/portable/launcher.py", absl_logging.ERROR, "a TFX error")
"""
)


def test_quiet_by_default_drops_the_named_notices_only():
    result = _python(LIBRARY_NOISE.replace("sys.argv[-1]", "'quiet'"))
    assert result.returncode == 0, result.stderr
    assert "TF_CPP_MIN_LOG_LEVEL 3" in result.stdout  # TensorFlow's C++ logs: FATAL only
    assert "past its support" not in result.stderr
    assert "property_predicate" not in result.stderr
    # Everything not named still shows: another library's warning, the project's, TFX's warnings and errors.
    for shown in (
        "a FutureWarning of another library",
        "the project's own warning",
        "a real TFX warning",
        "a TFX error",
    ):
        assert shown in result.stderr


def test_verbose_shows_everything():
    result = _python(LIBRARY_NOISE.replace("sys.argv[-1]", "'verbose'"))
    assert result.returncode == 0, result.stderr
    assert "TF_CPP_MIN_LOG_LEVEL None" in result.stdout  # TensorFlow's own default
    for shown in ("past its support", "property_predicate", "a real TFX warning"):
        assert shown in result.stderr


def test_a_users_tf_cpp_min_log_level_is_kept():
    result = _python(LIBRARY_NOISE.replace("sys.argv[-1]", "'quiet'"), env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="0"))
    assert "TF_CPP_MIN_LOG_LEVEL 0" in result.stdout


def test_verbose_before_or_after_the_command():
    parser = build_parser()
    assert parser.parse_args(["-v", "predict", "a.jpg"]).verbose
    assert parser.parse_args(["predict", "a.jpg", "--verbose"]).verbose
    assert parser.parse_args(["kfp", "compile", "-v"]).verbose
    assert not parser.parse_args(["predict", "a.jpg"]).verbose


def test_progress_lines_from_the_local_runners_records():
    result = _python(
        _LOG_FROM
        + """
        from pipeline import progress
        RUNNER, LAUNCHER = "tfx/orchestration/local/local_dag_runner.py", "tfx/orchestration/portable/launcher.py"
        with progress.reported(3) as stages:
            log_from(RUNNER, absl_logging.INFO, "Component %s is running.", "ImageExampleGen")
            log_from(LAUNCHER, absl_logging.INFO, "Going to run a new execution %d", 7)
            log_from(LAUNCHER, absl_logging.INFO, "Resolved inputs: %s", "...")  # TFX's other INFO: not shown
            log_from(LAUNCHER, absl_logging.WARNING, "a launcher warning")  # warnings still show
            log_from(RUNNER, absl_logging.INFO, "Component %s is finished.", "ImageExampleGen")
            log_from(RUNNER, absl_logging.INFO, "Component %s is running.", "Transform")
            log_from(LAUNCHER, absl_logging.INFO, "A cached execution %d is used.", 8)
            log_from(RUNNER, absl_logging.INFO, "Component %s is finished.", "Transform")
        absl_logging.info("after the run: not a progress line")
        print([(s.name, s.cached) for s in stages])
    """.replace("\n        ", "\n")
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "[1/3] ImageExampleGen ..."
    assert lines[1].startswith("[1/3] ImageExampleGen: done in ") and lines[1].endswith(" s")
    assert lines[2].startswith("[2/3] Transform: cached")
    assert lines[3] == "[('ImageExampleGen', False), ('Transform', True)]"
    assert "a launcher warning" in result.stderr
    assert "Resolved inputs" not in result.stderr + result.stdout
    assert "after the run" not in result.stderr + result.stdout


def test_stage_table():
    table = stage_table(
        [
            progress.StageTime("ImageExampleGen", 12.34),
            progress.StageTime("Transform", 0.5, True),
            progress.StageTime("report", 3.0),
        ]
    )
    assert table.splitlines() == [
        "Stage             Seconds",
        "ImageExampleGen      12.3",
        "Transform          cached",
        "report                3.0",
        "Total                15.8",
    ]
