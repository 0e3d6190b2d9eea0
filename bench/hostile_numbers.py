"""Wall time from `catdog ...` with a nonsense number to its error, before and after the range checks at the
declarations, side by side in one run: every case of tests/unit/test_hostile_numbers.py (each numeric flag of
each command), run as a user would (a fresh process, real imports), on the old code and on this tree.

A case that reaches no error within --cap seconds is stopped and recorded as such ("no error": the command
took the value and started its work: ingestion, compiling, serving). A run case gets a small generated folder
as --data and --model tutorial, so a value the old checks let through goes into a real run.

    .venv/bin/python bench/hostile_numbers.py --before /tmp/hostile-before
(--before: a checkout of the code to compare with, e.g. `git worktree add --detach /tmp/hostile-before 1db3a5a`.)"""

import argparse
import concurrent.futures
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(HERE / "tests"))
sys.path.insert(0, str(HERE / "tests" / "unit"))
import imagegen  # noqa: E402
from ingest_runs import write_folder  # noqa: E402
from test_hostile_numbers import CASES, case_id  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import record  # noqa: E402


def extra_args(words, tmp: Path):
    """What each command needs to go to work if it took the value (instead of failing on something else)."""
    command = words[:2] if words[0] == "kfp" else words[:1]
    return {
        ("run",): ["--data", str(tmp / "data"), "--output", str(tmp / "out"), "--model", "tutorial"],
        ("kfp", "compile"): ["--output", str(tmp / "pipeline.yaml")],
        ("kfp", "deploy"): [],
        ("serve",): [],
        ("predict",): ["--server", "127.0.0.1:1"],
        ("inspect-data",): ["--data", str(tmp / "data"), "--out", str(tmp / "inspect")],
    }[tuple(command)]


def one_case(code_dir: Path, words, flag, value, cap: float) -> dict:
    entry = "cli.main" if (code_dir / "cli" / "main.py").exists() else "pipeline.cli"  # before the layout change
    with tempfile.TemporaryDirectory(prefix="hostile-numbers-") as tmp:
        tmp = Path(tmp)
        write_folder(tmp / "data", imagegen.class_folder_files(4))
        (tmp / "models").mkdir()
        (tmp / "x.jpg").write_bytes(imagegen.image_bytes(0))
        words = [str(tmp / "models") if w == "." else str(tmp / "x.jpg") if w == "x.jpg" else w for w in words]
        command = [sys.executable, "-m", entry, *words, f"{flag}={value}", *extra_args(words, tmp)]
        start = time.monotonic()
        process = subprocess.Popen(
            command,
            cwd=code_dir,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"),
            start_new_session=True,
        )
        try:
            _, stderr = process.communicate(timeout=cap)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
            process.communicate()
            return {"seconds": None, "outcome": f"no error within {cap:g} s: the command went to work"}
        seconds = round(time.monotonic() - start, 2)
    lines = stderr.strip().splitlines()
    last = lines[-1] if lines else ""
    if "Traceback" in stderr:
        outcome = f"traceback: {last[:200]}"
    elif process.returncode == 0:
        outcome = "exit 0: the value was taken"
    elif last.startswith("catdog") and flag in last:
        outcome = f"error naming the flag: {last[:200]}"
    else:
        outcome = f"exit {process.returncode}, another error: {last[:200]}"
    return {"seconds": seconds, "outcome": outcome}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", type=Path, required=True, help="checkout of the code to compare with")
    parser.add_argument("--cap", type=float, default=30, help="seconds a case may take before it is stopped")
    parser.add_argument("--parallel", type=int, default=3, help="cases of the old code run at once")
    args = parser.parse_args()
    results = {}
    for name, code_dir, parallel in (("after", HERE, 1), ("before", args.before, args.parallel)):
        with concurrent.futures.ThreadPoolExecutor(parallel) as pool:
            futures = {case_id(*case): pool.submit(one_case, code_dir, *case, args.cap) for case in CASES}
            results[name] = {case: future.result() for case, future in futures.items()}
        print(name, "done", file=sys.stderr, flush=True)
    cases = {case: {"before": results["before"][case], "after": results["after"][case]} for case in results["after"]}
    after_seconds = [r["seconds"] for r in results["after"].values() if r["seconds"] is not None]
    summary = {
        which: {
            "cases": len(results[which]),
            "error_naming_the_flag": sum(r["outcome"].startswith("error naming") for r in results[which].values()),
            "no_error_within_cap": sum(r["seconds"] is None for r in results[which].values()),
            "traceback": sum(r["outcome"].startswith("traceback") for r in results[which].values()),
            "exit_0": sum(r["outcome"].startswith("exit 0") for r in results[which].values()),
        }
        for which in ("before", "after")
    }
    summary["after"]["median_seconds"] = statistics.median(after_seconds) if after_seconds else None
    summary["after"]["max_seconds"] = max(after_seconds) if after_seconds else None
    record.save("hostile_numbers", {"cap_seconds": args.cap, "summary": summary, "cases": cases})


if __name__ == "__main__":
    main()
