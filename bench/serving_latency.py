"""Issue 3's benchmark: Predict latency and throughput through `catdog serve` (gRPC, its own process)
against the same SavedModel called in this process, on the same 150x150 JPEGs, one image a request.

Prints one JSON object: p50/p99 latency (ms) and images/s for 1 and 8 concurrent callers on each side,
the server's p50 overhead over in-process (ms) and each side's 8-caller / 1-caller throughput.

    .venv/bin/python bench/serving_latency.py [--model SAVED_MODEL_DIR] [--seconds 15]

Without --model it first trains one with a small `catdog run` on generated images (about 2 minutes).
"""

import argparse
import os
import re
import select
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tests"))
import imagegen  # noqa: E402
import record  # noqa: E402  bench/record.py: a script's own folder is on sys.path

CONCURRENCY = (1, 8)
IMAGES = 32
WARMUP_CALLS = 10
ROUNDS = 5
BATCH = 8
SERVER_START_SECONDS = 180
P50_OVERHEAD_TARGET_MS = 2.0
SCALING_TARGET = 3.0


def build_model(work: str) -> str:
    """A model from a small pipeline run on generated images; returns its pushed version folder."""
    data = imagegen.split_dataset(os.path.join(work, "data.zip"), train_per_class=40, eval_per_class=10)
    output = os.path.join(work, "run")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "cli.main",
            "run",
            "--data",
            data,
            "--output",
            output,
            "--epochs",
            "1",
            "--min-accuracy",
            "0",
        ],
        check=True,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    serving = os.path.join(output, "serving", "catdog")
    return os.path.join(serving, max(os.listdir(serving), key=lambda name: int(name) if name.isdigit() else -1))


def timed_calls(call: Callable[[bytes], object], images: list[bytes], callers: int, seconds: float):
    """callers threads each calling call(image) in a loop for about `seconds`: (latencies, wall seconds)."""
    latencies: list[float] = []
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def loop(offset: int) -> None:
        mine, i = [], offset
        while time.monotonic() < deadline:
            start = time.perf_counter()
            call(images[i % len(images)])
            mine.append(time.perf_counter() - start)
            i += 1
        with lock:
            latencies.extend(mine)

    started = time.perf_counter()
    threads = [threading.Thread(target=loop, args=(k * 5,)) for k in range(callers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies, time.perf_counter() - started


def summary(latencies: list[float], seconds: float) -> dict:
    return {
        "requests": len(latencies),
        "p50_ms": round(statistics.median(latencies) * 1000, 3),
        "p99_ms": round(statistics.quantiles(latencies, n=100)[98] * 1000, 3),
        "images_per_s": round(len(latencies) / seconds, 2),
    }


def compare(sides: dict[str, Callable[[bytes], object]], images: list[bytes], seconds: float) -> dict:
    """Each side at each concurrency, in short alternating rounds: on a shared machine the load drifts,
    and alternating spreads the drift over both sides instead of charging it to one."""
    for call in sides.values():
        for image in images[:WARMUP_CALLS]:
            call(image)
    pooled = {(side, n): ([], 0.0) for side in sides for n in CONCURRENCY}
    for _ in range(ROUNDS):
        for n in CONCURRENCY:
            for side, call in sides.items():
                latencies, wall = timed_calls(call, images, n, seconds / ROUNDS)
                pooled[side, n] = (pooled[side, n][0] + latencies, pooled[side, n][1] + wall)
    return {side: {str(n): summary(*pooled[side, n]) for n in CONCURRENCY} for side in sides}


def start_server(model_dir: str, work: str, *serve_args: str):
    """`catdog serve` on free 127.0.0.1 ports over a base path whose only version is model_dir:
    (process, gRPC HOST:PORT, REST URL)."""
    base_path = tempfile.mkdtemp(dir=work)
    os.symlink(os.path.abspath(model_dir), os.path.join(base_path, "1"))
    return serve(base_path, *serve_args)


def serve(base_path: str, *serve_args: str):
    """`catdog serve` on free 127.0.0.1 ports over base_path: (process, gRPC HOST:PORT, REST URL)."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cli.main",
            "serve",
            "--model-base-path",
            base_path,
            "--port",
            "0",
            "--rest-port",
            "0",
            *serve_args,
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"),
    )
    ready, _, _ = select.select([process.stdout], [], [], SERVER_START_SECONDS)
    line = process.stdout.readline() if ready else ""
    if not line:
        process.kill()
        raise SystemExit("catdog serve did not start")
    grpc_target = re.search(r"on (\S+:\d+) \(gRPC\)", line).group(1)
    return process, grpc_target, re.search(r"(http://\S+) \(REST\)", line).group(1)


def compare_sides(model_dir: str, work: str, seconds: float):
    """(in-process results, server results) for the model in model_dir."""
    import tensorflow as tf

    from components import contract
    from serving.client.grpc_client import PredictClient

    images = [imagegen.image_bytes(i % 2, (150, 150), "jpg", seed=i) for i in range(IMAGES)]
    signature = tf.saved_model.load(model_dir).signatures[contract.IMAGE_BYTES_SIGNATURE]
    process, target, _ = start_server(model_dir, work)
    try:
        with PredictClient(target, "catdog") as client:
            results = compare(
                {
                    "in_process": lambda image: signature(**{contract.IMAGE_BYTES_INPUT: tf.constant([image])}),
                    "server": lambda image: client.predict([image]),
                },
                images,
                seconds,
            )
    finally:
        process.terminate()
        process.wait(timeout=30)
    # Whether merging requests (TF Serving's --enable_batching) could raise throughput: per-image cost
    # of one call on BATCH images against one image a call.
    batch = tf.constant(images[:BATCH])
    latencies, _ = timed_calls(lambda _: signature(**{contract.IMAGE_BYTES_INPUT: batch}), images, 1, seconds / 3)
    results["in_process"][f"batch_of_{BATCH}_ms_per_image"] = round(statistics.median(latencies) * 1000 / BATCH, 3)
    return results["in_process"], results["server"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="an exported model (a pushed version folder)")
    parser.add_argument("--seconds", type=float, default=15.0, help="time for each side at each concurrency")
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with tempfile.TemporaryDirectory(prefix="catdog-serving-bench-") as work:
        model_dir = args.model or build_model(work)
        in_process, server = compare_sides(model_dir, work, args.seconds)

    overhead = round(server["1"]["p50_ms"] - in_process["1"]["p50_ms"], 3)
    scaling = round(server["8"]["images_per_s"] / server["1"]["images_per_s"], 2)
    record.save(
        "serving_latency",
        {
            "model": args.model or "built by a 1-epoch pipeline run on generated images",
            "images": f"{IMAGES} distinct 150x150 JPEGs, one a request",
            "load_average_1min": round(os.getloadavg()[0], 2),  # other work on a shared machine
            "seconds_per_side_and_concurrency": args.seconds,
            "in_process": in_process,
            "server": server,
            "server_p50_overhead_ms": overhead,
            "server_throughput_8_over_1": scaling,
            "in_process_throughput_8_over_1": round(
                in_process["8"]["images_per_s"] / in_process["1"]["images_per_s"], 2
            ),
            "targets_met": {
                f"p50_overhead_ms<={P50_OVERHEAD_TARGET_MS}": overhead <= P50_OVERHEAD_TARGET_MS,
                f"throughput_8_over_1>={SCALING_TARGET}": scaling >= SCALING_TARGET,
            },
        },
    )


if __name__ == "__main__":
    main()
