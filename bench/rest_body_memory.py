"""The server's peak RSS under the worst REST bodies it accepts, each in a fresh `catdog serve` (VmHWM is
a high-water mark): bodies that expand in Python objects (issue 22: 20 million empty lists, 60 MB) and
ones at the new bounds. Writes bench/results/rest_body_memory.json, one entry per --label.

    .venv/bin/python bench/rest_body_memory.py --model MODEL_DIR --label after
    .venv/bin/python bench/rest_body_memory.py --model MODEL_DIR --label before --code /path/to/checkout
"""

import argparse
import base64
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import requests

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import record  # noqa: E402
import tfs_cases  # noqa: E402
from tfs_conformance import peak_rss_mb  # noqa: E402

MB = 1024 * 1024


def bodies() -> dict:
    return {
        "20 million empty lists (60 MB)": b'{"instances": [' + b",".join([b"[]"] * 20_000_000) + b"]}",
        "200,000 one-character strings (1.2 MB)": b'{"instances": [' + b",".join([b'"a"'] * 200_000) + b"]}",
        "one 63 MB base64 string": b'{"instances": [{"b64": "' + base64.b64encode(b"\0" * (47 * MB)) + b'"}]}',
        "100,000 nested lists": b'{"instances": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True)
    parser.add_argument("--label", required=True)
    parser.add_argument("--code", default=None)
    args = parser.parse_args()
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    if args.code:
        env["PYTHONPATH"] = os.path.abspath(args.code) + os.pathsep + env.get("PYTHONPATH", "")
    root = Path(tempfile.mkdtemp(prefix="rest_body_memory_"))
    shutil.copytree(args.model, root / "catdog" / "1")
    results = {}
    try:
        for name, body in bodies().items():
            with tfs_cases.catdog_serve(["--model-base-path", root / "catdog"], env=env) as (process, target, url):
                tfs_cases.wait_until_available(target, "catdog")
                idle = peak_rss_mb(process.pid)
                start = time.perf_counter()
                try:
                    response = requests.post(f"{url}/v1/models/catdog:predict", data=body, timeout=600)
                    answer = f"{response.status_code} {response.text[:160]}"
                except requests.RequestException as e:
                    answer = f"no answer: {e}"[:200]
                seconds = time.perf_counter() - start
                results[name] = {
                    "body_mb": round(len(body) / MB, 1),
                    "answer": answer,
                    "seconds": round(seconds, 2),
                    "idle_peak_rss_mb": round(idle),
                    "peak_rss_mb": round(peak_rss_mb(process.pid)),
                    "alive": process.poll() is None,
                }
                print(name, results[name], flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    path = Path(record.RESULTS_DIR) / "rest_body_memory.json"
    runs = json.loads(path.read_text())["result"] if path.exists() else {}
    runs[args.label] = {"code": args.code or "this checkout", "bodies": results}
    record.save("rest_body_memory", runs)


if __name__ == "__main__":
    main()
