"""What `catdog run --data DIR` writes when DIR holds a symlink to /dev/zero and a FIFO, before and after the
regular-files-only reader (components/files.py), side by side in one run.

Each run is `catdog run --model tutorial --epochs 1` on 20+20 training and 5+5 validation images (plus the
special files), under a file size limit (RLIMIT_FSIZE, --cap-gb: a runaway copy stops there, EFBIG, instead of
filling the disk) and a deadline (--timeout for the old code, where a hang is a hang; --run-timeout for a
whole run of this code). Sampled every half second: the bytes under the run's --output (where staging copies
a folder), the bytes the process passed to write() (/proc/PID/io wchar) and its CPU time (a process blocked
opening a FIFO uses none).

    .venv/bin/python bench/hostile_files.py --before /tmp/hostile-before
(--before: a checkout of the code to compare with, e.g. `git worktree add --detach /tmp/hostile-before 1db3a5a`;
its modules are imported instead of this tree's by running from there.)"""

import argparse
import contextlib
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
import imagegen  # noqa: E402
from ingest_runs import write_folder  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import record  # noqa: E402

HERE = Path(__file__).resolve().parents[1]
SAMPLE_SECONDS = 0.5


def make_data(root: Path, zero: bool, fifo: bool) -> Path:
    images = imagegen.class_folder_files(20, prefix="train/")
    images.update(imagegen.class_folder_files(5, prefix="validation/", seed=1000))
    folder = write_folder(root, images)
    if zero:
        os.symlink("/dev/zero", folder / "train" / "dogs" / "z.jpg")
    if fifo:
        os.mkfifo(folder / "train" / "cats" / "f.jpg")
    return folder


def bytes_under(folder: Path) -> int:
    total = 0
    for dirpath, _, names in os.walk(folder):
        for name in names:
            with contextlib.suppress(OSError):  # removed while walking
                total += os.lstat(os.path.join(dirpath, name)).st_size
    return total


def _proc(pid: int):
    """(wchar, CPU seconds) of a live process."""
    with open(f"/proc/{pid}/io") as f:
        wchar = int(next(line for line in f if line.startswith("wchar:")).split()[1])
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return wchar, (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(code_dir: Path, data: Path, output: Path, timeout: float, cap_bytes: int) -> dict:
    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (cap_bytes, cap_bytes))

    entry = "cli.main" if (code_dir / "cli" / "main.py").exists() else "pipeline.cli"  # before the layout change
    command = [
        sys.executable,
        "-m",
        entry,
        "run",
        "--data",
        str(data),
        "--output",
        str(output),
        "--model",
        "tutorial",
        "--epochs",
        "1",
        "--min-accuracy",
        "0",
    ]
    start = time.monotonic()
    process = subprocess.Popen(
        command,
        cwd=code_dir,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"),
        preexec_fn=limit,
    )
    peak_output, wchar, cpu, samples = 0, 0, 0.0, []
    while process.poll() is None and time.monotonic() - start < timeout:
        with contextlib.suppress(OSError, StopIteration):  # the process just ended
            wchar, cpu = _proc(process.pid)
        peak_output = max(peak_output, bytes_under(output))
        samples.append((round(time.monotonic() - start, 1), cpu))
        time.sleep(SAMPLE_SECONDS)
    timed_out = process.poll() is None
    if timed_out:
        process.kill()
    _, stderr = process.communicate()
    seconds = time.monotonic() - start
    peak_output = max(peak_output, bytes_under(output))
    last_minute = [c for t, c in samples if t >= seconds - 60]
    errors = [line for line in stderr.splitlines() if line.startswith("catdog: error:")]
    return {
        "exit": "timeout"
        if timed_out
        else (
            f"killed by {signal.Signals(-process.returncode).name}" if process.returncode < 0 else process.returncode
        ),
        "seconds": round(seconds, 1),
        "peak_bytes_under_output": peak_output,
        "bytes_passed_to_write": wchar,
        "cpu_seconds_last_60s": round(last_minute[-1] - last_minute[0], 2) if len(last_minute) > 1 else None,
        "error_line": errors[-1][:400] if errors else "",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", type=Path, required=True, help="checkout of the code to compare with")
    parser.add_argument("--timeout", type=float, default=180, help="seconds before the old code is called hung")
    parser.add_argument("--run-timeout", type=float, default=1800, help="seconds a run of this code may take")
    parser.add_argument("--cap-gb", type=float, default=1.0, help="largest file a run may write (RLIMIT_FSIZE)")
    args = parser.parse_args()
    cap = int(args.cap_gb * 2**30)
    cases = [  # (name, code, /dev/zero, FIFO, timeout)
        ("before: /dev/zero", args.before, True, False, args.timeout),
        ("before: FIFO", args.before, False, True, args.timeout),
        ("after: no special file", HERE, False, False, args.run_timeout),
        ("after: /dev/zero and FIFO", HERE, True, True, args.run_timeout),
    ]
    results = {}
    with tempfile.TemporaryDirectory(prefix="hostile-files-") as tmp:
        for i, (name, code, zero, fifo, timeout) in enumerate(cases):
            data = make_data(Path(tmp, f"data{i}"), zero, fifo)
            results[name] = measure(code, data, Path(tmp, f"out{i}"), timeout, cap)
            print(name, results[name], file=sys.stderr, flush=True)
    record.save(
        "hostile_files",
        {
            "file_size_limit_bytes": cap,
            "before_timeout_seconds": args.timeout,
            "images": "20+20 train, 5+5 validation (tests/imagegen.py)",
            "runs": results,
        },
    )


if __name__ == "__main__":
    main()
