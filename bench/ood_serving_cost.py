"""The serving cost of the out-of-distribution outputs (ood_score, in_distribution): one prediction's latency
over gRPC and REST for a run's model as exported, against the same weights exported by the exporter from before
those outputs (--before: a checkout, e.g. `git worktree add --detach /tmp/before-ood a48f978`). Both models are
served by this tree's `catdog serve` at once and the sides alternate in short rounds (bench/tfs_latency.py's
method), so the machine's drifting load falls on all of them. Writes bench/results/ood_serving_cost.json.

    .venv/bin/python bench/ood_serving_cost.py --run RUN_OUTPUT --before /tmp/before-ood [--seconds 40]
"""

import argparse
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

BENCH = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH)
sys.path[:0] = [BENCH, os.path.join(REPO, "tests"), REPO]

import imagegen  # noqa: E402
import record  # noqa: E402
import tfs_cases  # noqa: E402
from tfs_latency import grpc_call, one_client_in_rounds, rest_call  # noqa: E402

from pipeline import configs, run_summary  # noqa: E402

# Run with the before checkout first on the path: its exporter, on the run's Keras model and Transform graph.
EXPORT_BEFORE = """
import json, sys
import tensorflow_transform as tft
import tf_keras as keras
from components import exporter
model_dir, transform_dir, class_names, out = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), sys.argv[4]
model = keras.models.load_model(model_dir, compile=False)
exporter.export(model, tft.TFTransformOutput(transform_dir), class_names, out)
"""


def run_parts(run: str) -> tuple[str, str, list[str]]:
    """(the Trainer's serving SavedModel, the newest Transform graph, the class names) of a `catdog run` output."""
    artifacts = run_summary.find_artifacts(os.path.join(run, configs.METADATA_FILE))
    transform_graphs = glob.glob(os.path.join(run, "**", "Transform", "transform_graph", "*"), recursive=True)
    with open(os.path.join(artifacts.model_run, "history.json")) as f:
        class_names = json.load(f)["class_names"]
    return os.path.join(artifacts.model, "Format-Serving"), max(transform_graphs, key=os.path.getmtime), class_names


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", required=True, help="a `catdog run` output folder (the default preset's)")
    parser.add_argument("--before", required=True, help="a checkout whose exporter has no OOD outputs")
    parser.add_argument("--seconds", type=float, default=40.0, help="time for each side, over all rounds")
    args = parser.parse_args()
    model_dir, transform_dir, class_names = run_parts(args.run)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    root = Path(tempfile.mkdtemp(prefix="ood_serving_cost_"))
    try:
        shutil.copytree(model_dir, root / "with_ood" / "catdog" / "1")
        subprocess.run(
            [sys.executable, "-c", EXPORT_BEFORE, model_dir, transform_dir, json.dumps(class_names)]
            + [str(root / "without_ood" / "catdog" / "1")],
            check=True,
            cwd=args.before,
            env=dict(env, PYTHONPATH=os.path.abspath(args.before)),
        )
        images = [imagegen.image_bytes(i % 2, (224, 224), "jpg", seed=700 + i) for i in range(32)]
        with (
            tfs_cases.catdog_serve(["--model-base-path", root / "without_ood" / "catdog"], env=env) as without,
            tfs_cases.catdog_serve(["--model-base-path", root / "with_ood" / "catdog"], env=env) as with_ood,
        ):
            for _, target, _ in (without, with_ood):
                tfs_cases.wait_until_available(target, "catdog")
            sides = {
                "grpc_without_ood": grpc_call(without[1]),
                "grpc_with_ood": grpc_call(with_ood[1]),
                "rest_without_ood": rest_call(without[2]),
                "rest_with_ood": rest_call(with_ood[2]),
            }
            result = one_client_in_rounds(sides, images, args.seconds)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    for transport in ("grpc", "rest"):
        without, with_ood = result[f"{transport}_without_ood"], result[f"{transport}_with_ood"]
        result[f"{transport}_p50_with_over_without"] = round(with_ood["p50_ms"] / without["p50_ms"], 3)
        result[f"{transport}_p99_with_over_without"] = round(with_ood["p99_ms"] / without["p99_ms"], 3)
    result["load_average_1min"] = round(os.getloadavg()[0], 2)
    result["run"], result["before_code"] = args.run, args.before
    record.save("ood_serving_cost", result)


if __name__ == "__main__":
    main()
