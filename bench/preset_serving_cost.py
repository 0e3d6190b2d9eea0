"""Issue 11's serving cost: what the pretrained preset costs to serve against a from-scratch one.

For each exported model (NAME=VERSION_DIR): p50/p99 of one 150x150 JPEG a request, in process and over
gRPC through `catdog serve` (1 and 8 callers), and the model's size on disk. All sides run in one process
in alternating rounds (bench/serving_latency.py's compare), so the machine's load falls on all alike.
Writes bench/results/preset_serving_cost.json.

    .venv/bin/python bench/preset_serving_cost.py mobilenet=runs/catdog/serving/catdog/<v> residual=<dir> [--seconds 20]
"""

import argparse
import os
import tempfile

import record  # bench/record.py and serving_latency.py: a script's own folder is on sys.path
import serving_latency
from serving_latency import IMAGES, compare, start_server


def _megabytes_on_disk(folder: str) -> float:
    total = sum(os.path.getsize(os.path.join(root, f)) for root, _, files in os.walk(folder) for f in files)
    return round(total / 1e6, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", metavar="NAME=VERSION_DIR")
    parser.add_argument("--seconds", type=float, default=20.0, help="time for each side at each concurrency")
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    from components import contract
    from serving.client.grpc_client import PredictClient

    models = dict(item.split("=", 1) for item in args.models)
    images = [serving_latency.imagegen.image_bytes(i % 2, (150, 150), "jpg", seed=i) for i in range(IMAGES)]
    sides, servers, clients = {}, [], []
    with tempfile.TemporaryDirectory(prefix="catdog-preset-cost-") as work:
        try:
            for name, model_dir in models.items():
                signature = tf.saved_model.load(model_dir).signatures[contract.IMAGE_BYTES_SIGNATURE]
                sides[f"{name} in-process"] = lambda image, s=signature: s(
                    **{contract.IMAGE_BYTES_INPUT: tf.constant([image])}
                )
                process, target, _ = start_server(model_dir, work)
                servers.append(process)
                client = PredictClient(target, "catdog")
                clients.append(client)
                sides[f"{name} gRPC"] = lambda image, c=client: c.predict([image])
            results = compare(sides, images, args.seconds)
        finally:
            for client in clients:
                client.close()
            for process in servers:
                process.terminate()
                process.wait(timeout=30)
    record.save(
        "preset_serving_cost",
        {
            "latency": results,
            "size_on_disk_mb": {name: _megabytes_on_disk(model_dir) for name, model_dir in models.items()},
            "load_average_at_end": round(os.getloadavg()[0], 2),
        },
    )


if __name__ == "__main__":
    main()
