"""Issue 14's serving benchmark, one run, same images: (1) one 150x150 JPEG a request, one client:
REST against gRPC against the SavedModel in process, p50/p99; (2) 8 clients against `catdog serve`
with batching off and on (serving/deploy/batching_parameters.txt): images/s and p99.

Writes bench/results/serving_transports.json (and prints it).

    .venv/bin/python bench/serving_transports.py --model MODEL_VERSION_DIR [--seconds 20]
"""

import argparse
import base64
import dataclasses
import os
import sys
import tempfile

import requests

BENCH = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, BENCH)
from serving_latency import IMAGES, REPO, compare, start_server  # noqa: E402

sys.path.insert(0, os.path.join(REPO, "tests"))
import imagegen  # noqa: E402
import record  # noqa: E402  bench/record.py: a script's own folder is on sys.path

BATCHING_PARAMETERS = os.path.join(REPO, "serving", "deploy", "batching_parameters.txt")
CLIENTS = 8


def rest_call(url: str):
    session = requests.Session()

    def call(image: bytes):
        body = {"instances": [{"b64": base64.b64encode(image).decode("ascii")}]}
        response = session.post(f"{url}/v1/models/catdog:predict", json=body, timeout=60)
        response.raise_for_status()
        return response.json()["predictions"]

    return call


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="an exported model (a version folder)")
    parser.add_argument("--seconds", type=float, default=20.0, help="time for each side at each concurrency")
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import serving_latency
    import tensorflow as tf

    from components import contract
    from serving.client.grpc_client import PredictClient
    from serving.server.batching import read_batching_parameters

    images = [imagegen.image_bytes(i % 2, (150, 150), "jpg", seed=i) for i in range(IMAGES)]
    signature = tf.saved_model.load(args.model).signatures[contract.IMAGE_BYTES_SIGNATURE]
    load_before = round(os.getloadavg()[0], 2)
    with tempfile.TemporaryDirectory(prefix="catdog-transports-") as work:
        plain, plain_grpc, plain_rest = start_server(args.model, work)
        batched, batched_grpc, batched_rest = start_server(
            args.model, work, "--enable-batching", "--batching-parameters-file", BATCHING_PARAMETERS
        )
        try:
            with (
                PredictClient(plain_grpc, "catdog") as plain_client,
                PredictClient(batched_grpc, "catdog") as batched_client,
            ):
                serving_latency.CONCURRENCY = (1,)
                one_client = compare(
                    {
                        "in_process": lambda image: signature(**{contract.IMAGE_BYTES_INPUT: tf.constant([image])}),
                        "grpc": lambda image: plain_client.predict([image]),
                        "rest": rest_call(plain_rest),
                    },
                    images,
                    args.seconds,
                )
                serving_latency.CONCURRENCY = (CLIENTS,)
                eight_clients = compare(
                    {
                        "grpc_batching_off": lambda image: plain_client.predict([image]),
                        "grpc_batching_on": lambda image: batched_client.predict([image]),
                    },
                    images,
                    args.seconds,
                )
        finally:
            for process in (plain, batched):
                process.terminate()
                process.wait(timeout=30)
    one = {side: result["1"] for side, result in one_client.items()}
    eight = {side: result[str(CLIENTS)] for side, result in eight_clients.items()}
    results = {
        "model": args.model,
        "images": f"{IMAGES} distinct 150x150 JPEGs, one a request",
        "cpu_count": os.cpu_count(),
        "load_average_1min_before_after": [load_before, round(os.getloadavg()[0], 2)],
        "seconds_per_side": args.seconds,
        "one_client": one,
        "rest_p50_over_grpc": round(one["rest"]["p50_ms"] / one["grpc"]["p50_ms"], 3),
        "rest_p50_over_in_process": round(one["rest"]["p50_ms"] / one["in_process"]["p50_ms"], 3),
        "batching_parameters": dataclasses.asdict(read_batching_parameters(BATCHING_PARAMETERS)),
        f"{CLIENTS}_clients": eight,
        "batching_on_over_off_images_per_s": round(
            eight["grpc_batching_on"]["images_per_s"] / eight["grpc_batching_off"]["images_per_s"], 3
        ),
        "batching_on_over_off_p99": round(
            eight["grpc_batching_on"]["p99_ms"] / eight["grpc_batching_off"]["p99_ms"], 3
        ),
    }
    record.save("serving_transports", results)


if __name__ == "__main__":
    main()
