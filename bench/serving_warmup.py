"""Issue 14's warmup benchmark: the first request's latency on a freshly loaded version, with the
export's warmup records (assets.extra/tf_serving_warmup_requests) replayed at load and without them,
alternating in one process as `catdog serve` loads each new version. Load time is reported too: warmup
moves the first-request cost into the load, before the version is AVAILABLE.

Writes bench/results/serving_warmup.json (and prints it).

    .venv/bin/python bench/serving_warmup.py --model MODEL_VERSION_DIR [--trials 3]
"""

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH)
sys.path.insert(0, os.path.join(REPO, "tests"))
import imagegen  # noqa: E402
import record  # noqa: E402  bench/record.py: a script's own folder is on sys.path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="an exported model (a version folder)")
    parser.add_argument("--trials", type=int, default=3)
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    from components import contract
    from components.warmup_requests import write_warmup_requests
    from serving.server.servable import Servable

    image = imagegen.image_bytes(1, (150, 150), "jpg", seed=7)
    inputs = {contract.IMAGE_BYTES_INPUT: tf.constant([image])}
    load_before = round(os.getloadavg()[0], 2)
    with tempfile.TemporaryDirectory(prefix="catdog-warmup-") as work:
        folders = {"warmup_on": os.path.join(work, "on"), "warmup_off": os.path.join(work, "off")}
        for folder in folders.values():
            shutil.copytree(args.model, folder)
        shutil.rmtree(os.path.join(folders["warmup_off"], contract.WARMUP_DIR), ignore_errors=True)
        write_warmup_requests(folders["warmup_on"], (150, 150))  # the tutorial size
        runs = {side: [] for side in folders}
        for _ in range(args.trials):
            for side, folder in folders.items():
                start = time.perf_counter()
                servable = Servable(folder)
                loaded = time.perf_counter()
                servable.run(contract.IMAGE_BYTES_SIGNATURE, inputs)
                first = time.perf_counter()
                servable.run(contract.IMAGE_BYTES_SIGNATURE, inputs)
                second = time.perf_counter()
                runs[side].append(
                    {
                        "load_s": loaded - start,
                        "first_request_ms": (first - loaded) * 1000,
                        "second_request_ms": (second - first) * 1000,
                    }
                )
                del servable

    def median(side, key):
        return round(statistics.median(run[key] for run in runs[side]), 3)

    results = {
        "model": args.model,
        "cpu_count": os.cpu_count(),
        "load_average_1min_before_after": [load_before, round(os.getloadavg()[0], 2)],
        "trials": args.trials,
        "median": {
            side: {key: median(side, key) for key in ("load_s", "first_request_ms", "second_request_ms")}
            for side in runs
        },
        "runs": runs,
    }
    on, off = results["median"]["warmup_on"], results["median"]["warmup_off"]
    results["first_request_off_over_on"] = round(off["first_request_ms"] / on["first_request_ms"], 2)
    record.save("serving_warmup", results)


if __name__ == "__main__":
    main()
