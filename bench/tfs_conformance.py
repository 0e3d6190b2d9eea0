"""How many of TF Serving's behaviours (tests/tfs_cases.py) `catdog serve` matches, and the server's
peak RSS while they run: one server for the model, one with a --model_config_file of two models.

    .venv/bin/python bench/tfs_conformance.py --model OUT/serving/catdog/VERSION --label after
    .venv/bin/python bench/tfs_conformance.py --model ... --label before --code /path/to/a/checkout/of/main

--code runs `catdog serve` from another checkout (first on PYTHONPATH), so the same cases count the code
before a change. Each label's run is kept in bench/results/tfs_conformance.json."""

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import imagegen  # noqa: E402
import record  # noqa: E402
import tfs_cases as conformance  # noqa: E402

VERSION = 1


def peak_rss_mb(pid: int) -> float:
    """VmHWM: the most resident memory the process has held."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def sample_images():
    return [
        imagegen.image_bytes(kind, size, fmt, seed=300 + i)
        for i, (kind, size, fmt) in enumerate(
            [(0, (150, 150), "jpg"), (1, (97, 131), "png"), (1, (320, 200), "jpg"), (0, (64, 48), "png")]
        )
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="an exported SavedModel folder")
    parser.add_argument("--label", required=True, help="the run's name in the results, e.g. before, after")
    parser.add_argument("--code", default=None, help="a checkout whose `catdog serve` to run (default: this one)")
    parser.add_argument("--class-names", default="cats,dogs")
    args = parser.parse_args()
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    if args.code:
        env["PYTHONPATH"] = os.path.abspath(args.code) + os.pathsep + env.get("PYTHONPATH", "")
    images = sample_images()
    class_names = args.class_names.split(",")
    root = Path(tempfile.mkdtemp(prefix="tfs_conformance_"))
    result = {"code": args.code or "this checkout"}
    try:
        first, second = root / "catdog", root / "catdog2"
        shutil.copytree(args.model, first / str(VERSION))
        second.mkdir()
        for version in (1, 2):
            os.symlink(first / str(VERSION), second / str(version))
        served = config_served = None
        with conformance.catdog_serve(["--model-base-path", first, "--model-name", "catdog"], env=env) as (
            process,
            target,
            url,
        ):
            conformance.wait_until_available(target, "catdog")
            served = conformance.Served(target, url, "catdog", VERSION, images, class_names)
            model_results = conformance.run_cases(served, None)
            result["one_model_peak_rss_mb"] = peak_rss_mb(process.pid)
            served.close()
        config_path = root / "models.config"
        config_path.write_text(conformance.config_text("catdog", str(first), "catdog2", str(second)))
        try:
            with conformance.catdog_serve(["--model_config_file", config_path], env=env) as (process, target, url):
                conformance.wait_until_available(target, "catdog")
                conformance.wait_until_available(target, "catdog2")
                from google.protobuf import text_format
                from tensorflow_serving.config import model_server_config_pb2

                config = text_format.Parse(config_path.read_text(), model_server_config_pb2.ModelServerConfig())
                config_served = conformance.ConfigServed(
                    target,
                    url,
                    "catdog",
                    VERSION,
                    images,
                    class_names,
                    second="catdog2",
                    config_path=str(config_path),
                    config=config,
                )
                config_results = conformance.run_cases(None, config_served)
                result["two_models_peak_rss_mb"] = peak_rss_mb(process.pid)
                config_served.close()
        except RuntimeError as e:  # the server refused the flag: every config case fails
            result["config_server_error"] = str(e)[-500:]
            config_results = conformance.run_cases(None, None)
        cases = {
            name: (model_results[name] if case.needs == "model" else config_results[name])
            for name, case in ((c.name, c) for c in conformance.CASES)
        }
    finally:
        shutil.rmtree(root, ignore_errors=True)
    result["cases"] = len(cases)
    result["matching"] = sum(c["passed"] for c in cases.values())
    result["differing"] = sorted(name for name, c in cases.items() if not c["passed"])
    result["details"] = cases
    path = Path(record.RESULTS_DIR) / "tfs_conformance.json"
    runs = json.loads(path.read_text())["result"] if path.exists() else {}
    runs[args.label] = result
    record.save("tfs_conformance", runs)


if __name__ == "__main__":
    main()
