"""One prediction (one 150x150 JPEG a request, one client) over gRPC and REST, against `catdog serve` before
and after a change, side by side: both servers run at once on the same model and the four sides alternate
in short rounds, so the machine's drifting load falls on all of them. Writes bench/results/tfs_latency.json.

    .venv/bin/python bench/tfs_latency.py --model MODEL_DIR --before /path/to/a/checkout/of/main [--seconds 40]
"""

import argparse
import base64
import os
import shutil
import sys
import tempfile
from pathlib import Path

import grpc
import requests

BENCH = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, BENCH)
sys.path.insert(0, os.path.join(BENCH, "..", "tests"))

import imagegen  # noqa: E402
import record  # noqa: E402
import tfs_cases  # noqa: E402
from serving_latency import summary, timed_calls  # noqa: E402

ROUNDS = 8
WARMUP_CALLS = 20


def grpc_call(target: str):
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    stub = prediction_service_pb2_grpc.PredictionServiceStub(grpc.insecure_channel(target))

    def call(image: bytes):
        request = predict_pb2.PredictRequest()
        request.model_spec.name = "catdog"
        request.inputs["image_bytes"].CopyFrom(tf.make_tensor_proto([image], dtype=tf.string))
        return tf.make_ndarray(stub.Predict(request, timeout=60).outputs["probability"])

    return call


def rest_call(url: str):
    session = requests.Session()

    def call(image: bytes):
        body = {"instances": [{"b64": base64.b64encode(image).decode("ascii")}]}
        response = session.post(f"{url}/v1/models/catdog:predict", json=body, timeout=60)
        response.raise_for_status()
        return response.json()["predictions"]

    return call


def one_client_in_rounds(sides: dict, images: list[bytes], seconds: float) -> dict:
    """Each side's latency summary, one request at a time: every side warmed up, then the sides in turn in
    ROUNDS short rounds of seconds / ROUNDS each."""
    for call in sides.values():
        for image in images[:WARMUP_CALLS]:
            call(image)
    pooled = {side: ([], 0.0) for side in sides}
    for _ in range(ROUNDS):
        for side, call in sides.items():
            latencies, wall = timed_calls(call, images, 1, seconds / ROUNDS)
            pooled[side] = (pooled[side][0] + latencies, pooled[side][1] + wall)
    return {side: summary(*pooled[side]) for side in sides}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True)
    parser.add_argument("--before", required=True, help="a checkout whose `catdog serve` is the before side")
    parser.add_argument("--seconds", type=float, default=40.0, help="time for each side, over all rounds")
    args = parser.parse_args()
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    before_env = dict(env, PYTHONPATH=os.path.abspath(args.before) + os.pathsep + env.get("PYTHONPATH", ""))
    images = [imagegen.image_bytes(i % 2, (150, 150), "jpg", seed=700 + i) for i in range(32)]
    root = Path(tempfile.mkdtemp(prefix="tfs_latency_"))
    shutil.copytree(args.model, root / "catdog" / "1")
    serve = ["--model-base-path", root / "catdog"]
    try:
        with (
            tfs_cases.catdog_serve(serve, env=before_env) as (_, before_target, before_url),
            tfs_cases.catdog_serve(serve, env=env) as (_, after_target, after_url),
        ):
            for target in (before_target, after_target):
                tfs_cases.wait_until_available(target, "catdog")
            sides = {
                "grpc_before": grpc_call(before_target),
                "grpc_after": grpc_call(after_target),
                "rest_before": rest_call(before_url),
                "rest_after": rest_call(after_url),
            }
            result = one_client_in_rounds(sides, images, args.seconds)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    for transport in ("grpc", "rest"):
        before, after = result[f"{transport}_before"], result[f"{transport}_after"]
        result[f"{transport}_p50_after_over_before"] = round(after["p50_ms"] / before["p50_ms"], 3)
        result[f"{transport}_p99_after_over_before"] = round(after["p99_ms"] / before["p99_ms"], 3)
    result["load_average_1min"] = round(os.getloadavg()[0], 2)
    result["before_code"] = args.before
    record.save("tfs_latency", result)


if __name__ == "__main__":
    main()
