"""Peak memory of `catdog serve` under the worst requests we can build, and of `catdog run` on a zip with a
bomb member (issue 15). Writes bench/results/hostile_memory.json.

    .venv/bin/python bench/hostile_memory.py [--model runs/catdog/serving/catdog]

Without --model it serves the model that the `catdog run` on the bomb zip pushed.

The serve figures are the server's peak resident memory (VmHWM) after each request, in the order sent;
the run figure is the largest resident memory of the `catdog run` process tree (ru_maxrss of children).
"""

import argparse
import os
import re
import resource
import select
import subprocess
import sys
import time

import grpc
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))
import bombs  # noqa: E402
import imagegen  # noqa: E402
import record  # noqa: E402  bench/record.py: a script's own folder is on sys.path

from components import limits  # noqa: E402

BOMB_MEMBER_BYTES = 8 * 1024**3  # the 8 GiB member, about 8 MB compressed


def _peak_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"VmHWM:\s+(\d+) kB", f.read()).group(1)) / 1024


def _request(images) -> predict_pb2.PredictRequest:
    r = predict_pb2.PredictRequest()
    r.model_spec.name = "catdog"
    r.inputs["image_bytes"].CopyFrom(tf.make_tensor_proto(images, dtype=tf.string))
    return r


def _amplified_request(declared: int) -> predict_pb2.PredictRequest:
    r = _request([imagegen.image_bytes(0, (150, 150), "jpg")])
    r.inputs["image_bytes"].tensor_shape.dim[0].size = declared
    return r


def serve_peaks(model_base_path: str) -> dict:
    process = subprocess.Popen(
        [sys.executable, "-m", "cli.main", "serve", "--model-base-path", model_base_path, "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"),
    )
    try:
        ready, _, _ = select.select([process.stdout], [], [], 300)
        target = re.search(r"on (\S+:\d+) ", process.stdout.readline()).group(1)
        side = int(limits.MAX_IMAGE_PIXELS**0.5)  # the largest square image the limit lets through
        requests = {
            "one 150x150 JPEG": _request([imagegen.image_bytes(0, (150, 150), "jpg")]),
            "shape [2000] declared, 1 value sent": _amplified_request(2000),
            "PNG bomb 20000x20000": _request([bombs.png_bomb(20000, 20000)]),
            "GIF of 50 frames of 7000x7000": _request([bombs.gif_frames_bomb(7000, 50)]),
            f"{limits.MAX_IMAGES_PER_REQUEST} PNGs of {side}x{side} (at the limits, accepted)": _request(
                [bombs.png_bomb(side, side)] * limits.MAX_IMAGES_PER_REQUEST
            ),
        }
        results = {"startup_mb": _peak_mb(process.pid), "requests": []}
        with grpc.insecure_channel(target, options=[("grpc.max_send_message_length", 64 << 20)]) as channel:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            for name, request in requests.items():
                started = time.monotonic()
                try:
                    stub.Predict(request, timeout=900)
                    status = "OK"
                except grpc.RpcError as e:
                    status = f"{e.code().name}: {e.details()[:160]}"
                results["requests"].append(
                    {
                        "request": name,
                        "request_bytes": request.ByteSize(),
                        "status": status,
                        "seconds": round(time.monotonic() - started, 2),
                        "server_peak_rss_mb": round(_peak_mb(process.pid)),
                    }
                )
                print(results["requests"][-1], flush=True)
        return results
    finally:
        process.terminate()
        process.wait(timeout=60)


def run_peak(workdir: str) -> dict:
    os.makedirs(workdir, exist_ok=True)
    data = os.path.join(workdir, "bomb.zip")
    files = imagegen.class_folder_files(40, prefix="train/")
    files.update(imagegen.class_folder_files(10, prefix="validation/", seed=1000))
    started = time.monotonic()
    bombs.zip_with_zeros(data, files, "train/dogs/bomb.jpg", BOMB_MEMBER_BYTES)
    print(f"made {data}: {os.path.getsize(data):,} bytes in {time.monotonic() - started:.0f} s", flush=True)
    started = time.monotonic()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "cli.main",
            "run",
            "--data",
            data,
            "--output",
            os.path.join(workdir, "out"),
            "--epochs",
            "1",
            "--min-accuracy",
            "0",
            "--no-cache",
        ],
        capture_output=True,
        text=True,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"),
    )
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    skipped = [line for line in proc.stdout.splitlines() if "Skipped" in line]
    return {
        "zip_bytes": os.path.getsize(data),
        "member_bytes": BOMB_MEMBER_BYTES,
        "exit_code": proc.returncode,
        "seconds": round(time.monotonic() - started),
        "peak_rss_mb": round(peak),
        "summary": skipped,
        "stderr_tail": proc.stderr[-400:] if proc.returncode else "",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="", help="a serving folder of numbered versions; skips the run")
    parser.add_argument("--workdir", default="/tmp/catdog-hostile-bench")
    args = parser.parse_args()
    results = {
        "limits": {
            "max_images_per_request": limits.MAX_IMAGES_PER_REQUEST,
            "max_image_pixels": limits.MAX_IMAGE_PIXELS,
            "max_file_bytes": limits.MAX_FILE_BYTES,
        }
    }
    if not args.model:
        results["run_on_zip_with_bomb_member"] = run_peak(args.workdir)
        print(results["run_on_zip_with_bomb_member"], flush=True)
    results["serve"] = serve_peaks(os.path.abspath(args.model or os.path.join(args.workdir, "out/serving/catdog")))
    record.save("hostile_memory", results)


if __name__ == "__main__":
    main()
