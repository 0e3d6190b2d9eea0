"""The Trainer over replicas and workers on this CPU (issue 25): a correctness path here, not a speed-up.

Each training is the Trainer's own run_fn in a process of its own (tests/trainer_runs.py, which splits the CPU
into logical devices or joins a TF_CONFIG cluster before TensorFlow starts), on a finished run's examples and
Transform graph:
    one replica      the default strategy, one device
    two replicas     MirroredStrategy over two logical CPU devices of the same cores
    two workers      MultiWorkerMirroredStrategy, a chief and a worker process on loopback ports
Two logical devices or two workers share the machine's 2 cores, so they add all-reduce work and no compute.

--compare throughput: images/s of each (training images over an epoch's wall time, validation included; the
mean of the epochs after the first, which traces and fills the cache), in rounds that run the three at once,
so each sees the same load (the machine is shared); ratios to one replica per round.
--compare accuracy: the same recipe (default mobilenet 2+2 epochs) on one replica and on two, both at once;
validation accuracy per epoch. Two replicas take global batches of 2 x --batch-size at twice the rate.

    .venv/bin/python bench/distributed_training.py --run /tmp/real --compare accuracy
    .venv/bin/python bench/distributed_training.py --run /tmp/gen100 --compare throughput --rounds 3 --epochs 4
"""

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import record  # noqa: E402  bench/record.py: a script's own folder is on sys.path

REPO = Path(__file__).resolve().parents[1]
TRAINER_RUNS = REPO / "tests" / "trainer_runs.py"
CONFIGURATIONS = ("one_replica", "two_replicas", "two_workers")


def _free_ports(count: int):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _start(run: str, out_dir: Path, config: dict, *options, tf_config=None) -> subprocess.Popen:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    env.pop("TF_CONFIG", None)
    if tf_config:
        env["TF_CONFIG"] = json.dumps(tf_config)
    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / f"log-{tf_config['task']['type'] if tf_config else 'alone'}.txt", "w") as log:
        return subprocess.Popen(
            [sys.executable, str(TRAINER_RUNS), run, str(out_dir), json.dumps(config), *options],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=REPO,
        )


def _wait(processes) -> None:
    for process in processes:
        if process.wait() != 0:
            raise SystemExit(f"a training process failed: {process.args[:3]} (its log is in the out folder)")


def _start_configuration(name: str, run: str, out_dir: Path, config: dict):
    if name == "one_replica":
        return [_start(run, out_dir, {**config, "distribution_strategy": "default"})]
    if name == "two_replicas":
        return [_start(run, out_dir, {**config, "distribution_strategy": "mirrored"}, "--logical-cpus", "2")]
    chief, worker = (f"127.0.0.1:{port}" for port in _free_ports(2))
    cluster = {"chief": [chief], "worker": [worker]}
    return [
        _start(run, out_dir, config, tf_config={"cluster": cluster, "task": {"type": task, "index": 0}})
        for task in ("chief", "worker")
    ]


def _history(out_dir: Path) -> dict:
    return json.loads((out_dir / "model_run" / "history.json").read_text())


def compare_throughput(args, work: Path) -> dict:
    config = {"model_preset": args.model, "epochs": args.epochs, "seed": 42, "batch_size": args.batch_size}
    rounds = []
    for index in range(args.rounds):
        out_dirs = {name: work / f"throughput-{index}-{name}" for name in CONFIGURATIONS}
        _wait([p for name in CONFIGURATIONS for p in _start_configuration(name, args.run, out_dirs[name], config)])
        measured = {}
        for name in CONFIGURATIONS:
            placed = _history(out_dirs[name])["distribution"]
            timed = placed["epoch_seconds"][1:]
            measured[name] = {
                "replicas": placed["replicas"],
                "workers": placed["workers"],
                "global_batch": placed["global_batch"],
                "steps_run": placed["steps_run"],
                "epoch_seconds": placed["epoch_seconds"],
                "images_per_s": round(placed["train_examples"] * len(timed) / sum(timed), 2),
            }
        base = measured["one_replica"]["images_per_s"]
        for values in measured.values():
            values["ratio_to_one_replica"] = round(values["images_per_s"] / base, 3)
        rounds.append(measured)
        if index + 1 < args.rounds:  # what is measured so far, should a later round not finish
            record.save(
                args.name or "distributed_throughput",
                {"run": args.run, "model": args.model, "per_replica_batch": args.batch_size, "rounds": rounds},
            )
    return {"model": args.model, "per_replica_batch": args.batch_size, "epochs": args.epochs, "rounds": rounds}


def compare_accuracy(args, work: Path) -> dict:
    config = {
        "model_preset": args.model,
        "epochs": args.epochs,
        "fine_tune_epochs": args.fine_tune_epochs,
        "seed": 42,
        "batch_size": args.batch_size,
        "backbone_weights": args.backbone_weights,
    }
    names = ("one_replica", "two_replicas")
    started = {name: _start_configuration(name, args.run, work / f"accuracy-{name}", config) for name in names}
    start = time.perf_counter()
    _wait([p for processes in started.values() for p in processes])
    result = {
        "model": args.model,
        "phase_epochs": [args.epochs, args.fine_tune_epochs],
        "per_replica_batch": args.batch_size,
        "both_wall_s": round(time.perf_counter() - start, 1),
    }
    for name in names:
        history = _history(work / f"accuracy-{name}")
        placed = history["distribution"]
        result[name] = {
            "replicas": placed["replicas"],
            "global_batch": placed["global_batch"],
            "last_phase_learning_rate": placed["last_phase_learning_rate"],
            "val_accuracy_per_epoch": [round(v, 4) for v in history["history"]["val_accuracy"]],
            "loss_per_epoch": [round(v, 4) for v in history["history"]["loss"]],
            "kept_val_accuracy": round(history["kept_val_accuracy"], 4),
            "epoch_seconds": placed["epoch_seconds"],
        }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", required=True, help="a finished `catdog run` output folder")
    parser.add_argument("--compare", choices=("throughput", "accuracy"), required=True)
    parser.add_argument("--model", default="")
    parser.add_argument("--batch-size", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--fine-tune-epochs", type=int, default=2)
    parser.add_argument("--backbone-weights", default="/work/shared/weights/mobilenet_1_0_224_tf_no_top.h5")
    parser.add_argument("--name", default="", help="results file name (default: distributed_<compare>)")
    args = parser.parse_args()
    args.model = args.model or ("tutorial" if args.compare == "throughput" else "mobilenet")
    with tempfile.TemporaryDirectory(prefix="catdog-distributed-") as work:
        compare = compare_throughput if args.compare == "throughput" else compare_accuracy
        result = {"run": args.run, **compare(args, Path(work))}
    record.save(args.name or f"distributed_{args.compare}", result)


if __name__ == "__main__":
    main()
