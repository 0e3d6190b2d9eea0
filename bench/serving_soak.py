"""Issue 14's soak: 8 clients (4 gRPC, 4 REST) hold `catdog serve` busy for 60 s while three new
versions are pushed and one broken version appears. Counts failed requests, checks the broken version
is reported by GetModelStatus and never answers, and samples the server's resident memory.

Writes bench/results/serving_soak.json (and prints it); --pushes N pushes N good versions (evenly
spread, the broken one after the first half), to see whether memory levels off.

    .venv/bin/python bench/serving_soak.py --model MODEL_VERSION_DIR [--seconds 60] [--pushes 3] [--output FILE]
"""

import argparse
import base64
import os
import sys
import tempfile
import threading
import time

import requests

BENCH = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, BENCH)
from serving_latency import IMAGES, REPO, serve  # noqa: E402

sys.path.insert(0, os.path.join(REPO, "tests"))
import imagegen  # noqa: E402
import record  # noqa: E402  bench/record.py: a script's own folder is on sys.path

RESULTS = os.path.join(BENCH, "results", "serving_soak.json")  # --output: its name under bench/results/
CLIENTS_PER_TRANSPORT = 4


def pushes(good: int):
    """(fraction of the soak, version, broken?): good versions evenly spread, a broken one after half
    of them; 3 gives versions 2 and 3, broken 4, then 5, at 1/6, 2/6, 3/6 and 4/6 of the soak."""
    broken_at = (good + 1) // 2 + 1
    kinds = [False] * good
    kinds.insert(broken_at - 1, True)
    return [((i + 1) / (good + 3), i + 2, broken) for i, broken in enumerate(kinds)]


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def push(model_dir: str, base_path: str, version: int, broken: bool) -> None:
    """Into place by a rename, as the Pusher does; a good version links the model, a broken one is garbage."""
    staging = os.path.join(base_path, f".staging-{version}")
    if broken:
        os.makedirs(staging)
        with open(os.path.join(staging, "saved_model.pb"), "wb") as f:
            f.write(b"\x08\x01 not a SavedModel \xff" * 50)
    else:
        os.symlink(os.path.abspath(model_dir), staging)
    os.rename(staging, os.path.join(base_path, str(version)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="an exported model (a version folder)")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--pushes", type=int, default=3, help="good versions pushed during the soak")
    parser.add_argument("--output", default=RESULTS)
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import grpc
    from tensorflow_serving.apis import get_model_status_pb2, model_service_pb2_grpc

    from serving.client.grpc_client import PredictClient

    images = [imagegen.image_bytes(i % 2, (150, 150), "jpg", seed=i) for i in range(IMAGES)]
    load_before = round(os.getloadavg()[0], 2)
    with tempfile.TemporaryDirectory(prefix="catdog-soak-") as work:
        base_path = os.path.join(work, "catdog")
        os.makedirs(base_path)
        push(args.model, base_path, 1, broken=False)
        process, target, rest_url = serve(base_path, "--poll-seconds", "1")
        stop = threading.Event()
        lock = threading.Lock()
        counts = {"grpc": 0, "rest": 0}
        failures = []
        versions_answering = set()
        memory = []

        def grpc_client(k):
            with PredictClient(target, "catdog") as client:
                i = k
                while not stop.is_set():
                    try:
                        response = client.predict_response([images[i % IMAGES]])
                        with lock:
                            counts["grpc"] += 1
                            versions_answering.add(response.model_spec.version.value)
                    except Exception as e:  # noqa: BLE001 - every failure is the result
                        with lock:
                            failures.append(f"gRPC: {e}")
                    i += 1

        def rest_client(k):
            session = requests.Session()
            i = k
            while not stop.is_set():
                body = {"instances": [{"b64": base64.b64encode(images[i % IMAGES]).decode("ascii")}]}
                try:
                    response = session.post(f"{rest_url}/v1/models/catdog:predict", json=body, timeout=60)
                    with lock:
                        if response.status_code == 200:
                            counts["rest"] += 1
                        else:
                            failures.append(f"REST {response.status_code}: {response.text[:200]}")
                except requests.RequestException as e:
                    with lock:
                        failures.append(f"REST: {e}")
                i += 1

        try:
            memory.append((0.0, rss_mb(process.pid)))
            threads = [threading.Thread(target=grpc_client, args=(k,)) for k in range(CLIENTS_PER_TRANSPORT)]
            threads += [threading.Thread(target=rest_client, args=(k,)) for k in range(CLIENTS_PER_TRANSPORT)]
            start = time.monotonic()
            for t in threads:
                t.start()
            pending = pushes(args.pushes)
            pushed = []
            while (elapsed := time.monotonic() - start) < args.seconds:
                if pending and elapsed >= pending[0][0] * args.seconds:
                    _, version, broken = pending.pop(0)
                    push(args.model, base_path, version, broken)
                    pushed.append({"at_s": round(elapsed, 1), "version": version, "broken": broken})
                memory.append((round(elapsed, 1), rss_mb(process.pid)))
                time.sleep(1)
            stop.set()
            for t in threads:
                t.join()
            memory.append((round(time.monotonic() - start, 1), rss_mb(process.pid)))
            with grpc.insecure_channel(target) as channel:
                request = get_model_status_pb2.GetModelStatusRequest()
                request.model_spec.name = "catdog"
                status = model_service_pb2_grpc.ModelServiceStub(channel).GetModelStatus(request, timeout=30)
        finally:
            process.terminate()
            process.wait(timeout=30)

    states = {
        s.version: {
            "state": get_model_status_pb2.ModelVersionStatus.State.Name(s.state),
            "error": s.status.error_message,
        }
        for s in status.model_version_status
    }
    broken = [p["version"] for p in pushed if p["broken"]]
    results = {
        "model": args.model,
        "cpu_count": os.cpu_count(),
        "load_average_1min_before_after": [load_before, round(os.getloadavg()[0], 2)],
        "seconds": args.seconds,
        "clients": {"grpc": CLIENTS_PER_TRANSPORT, "rest": CLIENTS_PER_TRANSPORT},
        "pushes": pushed,
        "requests_ok": counts,
        "failed_requests": len(failures),
        "first_failures": failures[:5],
        "versions_that_answered_grpc": sorted(versions_answering),
        "version_status_at_end": states,
        "broken_version_reported": all(states.get(v, {}).get("error") for v in broken),
        "broken_version_never_served": not (set(broken) & versions_answering),
        "rss_mb": {"start": memory[0][1], "max": max(m for _, m in memory), "end": memory[-1][1]},
        "rss_mb_samples": memory,
    }
    record.save(os.path.splitext(os.path.basename(args.output))[0], results)


if __name__ == "__main__":
    main()
