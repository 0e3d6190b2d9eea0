"""Every numeric setting of every command refuses nonsense (out of range, not finite, past what its consumer
takes) with one `catdog: error:` line, before any work: each case runs the command with TensorFlow, TFX, Beam,
KFP and gRPC made unimportable, so a value that got past the checks would fail on the import instead."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HEAVY_MODULES = ("tensorflow", "tfx", "apache_beam", "tensorflow_transform", "kfp", "grpc", "tf_keras")
# Runs `catdog` once per argument list read from stdin (JSON), in one process, and prints (exit code, stderr)
# for each. A command that got past its checks into work fails on importing one of HEAVY_MODULES.
GUARDED_MAIN = f"""
import contextlib, io, json, sys
for name in {HEAVY_MODULES!r}:
    sys.modules[name] = None
from cli.main import main
results = []
for argv in json.load(sys.stdin):
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr):
        try:
            code = main(argv)
        except SystemExit as e:
            code = e.code
        except BaseException as e:
            code, _ = "raised", stderr.write(f"Traceback: {{type(e).__name__}}: {{e}}")
    results.append((code, stderr.getvalue()))
print(json.dumps(results))
"""

HUGE = "99999999999999999999"  # past int64
TRAINING = {
    "--epochs": ("0", "-1", "10001", HUGE, "1e20", "2.5"),
    "--fine-tune-epochs": ("-1", "10001", HUGE),
    "--learning-rate": ("0", "-1", "inf", "nan", "1e309", "-inf", "1e30"),
    "--fine-tune-learning-rate": ("0", "inf", "nan", "2"),
    "--batch-size": ("0", "4097", HUGE),
    "--seed": ("-1", "4294967296", HUGE, "0x10"),
    "--early-stopping-patience": ("-1", "10001", HUGE),
    "--train-cache-memory-share": ("0", "2", "nan", "inf"),
}
RUN = {
    **TRAINING,
    "--eval-percent": ("0", "100", "-5", HUGE),
    "--download-timeout": ("0", "-1", "86401", HUGE),
    "--image-size": ("0", "7", "7072", HUGE),
    "--min-accuracy": ("-0.1", "1.5", "nan", "inf"),
    "--max-regression": ("-1", "2", "nan"),
}
KUBEFLOW = {
    **RUN,
    "--gpus": ("-1", "17", HUGE),
    "--cpus": ("0", "-1", "inf", "nan", "1e300"),
    "--memory-gb": ("0", "inf", "nan", "1e300"),
}
SERVE = {
    "--port": ("-1", "65536", HUGE, "http"),
    "--rest-port": ("-1", "65536", HUGE),
    "--poll-seconds": ("0", "-1", "1e-300", "0.5", "nan", "inf", "1e300"),
    "--num-versions": ("0", "-1", "101", HUGE),
    "--max-message-mb": ("0", "-1", "2048", HUGE),
    "--max-images-per-request": ("0", "-1", "4097", HUGE),
    "--label": ("stable=-1", f"stable={HUGE}"),
}
COMMANDS = {  # the words before the flag, with what the command needs besides it
    ("run",): RUN,
    ("kfp", "compile", "--serving-dir", "gs://bucket/serving"): KUBEFLOW,
    ("kfp", "deploy", "--serving-dir", "gs://bucket/serving", "--host", "http://127.0.0.1:1"): KUBEFLOW,
    ("serve", "--model-base-path", "."): SERVE,
    ("predict", "x.jpg"): {"--timeout": ("0", "-1", "nan", "inf", "86401", "1e20", "soon")},
    ("inspect-data",): {"--download-timeout": ("0", "-1", "86401", HUGE), "--eval-percent": ("0", "100", HUGE)},
}
CASES = [
    (words, flag, value) for words, flags in COMMANDS.items() for flag, values in flags.items() for value in values
]


def case_id(words, flag, value) -> str:
    return " ".join((*words[:2], f"{flag}={value}")) if words[0] == "kfp" else f"{words[0]} {flag}={value}"


@pytest.fixture(scope="module")
def outcomes():
    """{case id: (exit code, stderr)}: every case in one guarded process (one interpreter start, not 200)."""
    argvs = [[*words, f"{flag}={value}"] for words, flag, value in CASES]
    result = subprocess.run(
        [sys.executable, "-c", GUARDED_MAIN],
        input=json.dumps(argvs),
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return dict(zip((case_id(*case) for case in CASES), json.loads(result.stdout), strict=True))


@pytest.mark.parametrize("words, flag, value", CASES, ids=[case_id(*case) for case in CASES])
def test_a_nonsense_number_is_one_line_before_any_work(outcomes, words, flag, value):
    code, stderr = outcomes[case_id(words, flag, value)]
    lines = stderr.strip().splitlines()
    assert code == 2 and "Traceback" not in stderr, stderr[-2000:]
    assert len(lines) == 1 and lines[0].startswith("catdog: error: ") and flag in lines[0], lines


def _settings_types():
    """Every settings type the commands declare (each command's module is imported by cli.main)."""
    import cli.main  # noqa: F401
    from components.settings_core import Checked

    found, todo = [], [Checked]
    while todo:
        for sub in todo.pop().__subclasses__():
            found.append(sub)
            todo.append(sub)
    return found


def test_every_number_any_command_declares_has_a_range():
    """Where a number is declared, its check bounds it both ways: the cases above cannot miss a new one."""
    import dataclasses

    from components.settings_core import flag_of, value_type

    unbounded = []
    for settings_type in _settings_types():
        for field in dataclasses.fields(settings_type):
            if value_type(field) in (int, float):
                check = field.metadata.get("check")
                if not check or not all(check(value) for value in (-(10**30), 10**30)):
                    unbounded.append(f"{settings_type.__name__} {flag_of(field)}")
    assert not unbounded, unbounded
