"""The pipeline's data stages (ImageExampleGen, StatisticsGen, SchemaGen, ExampleValidator, DataGate, Transform)
on Beam's DirectRunner in-memory against multi-processing, on each dataset, in one run.

Each configuration runs in a fresh process (a partial run of the real pipeline, to Transform, no cache), in
alternating order so that load on the machine falls on both; the figures are wall and CPU seconds (the process
and its worker processes), images/s and peak resident memory, and for each runner the growth with size:
(time of the largest set / time of the smallest) / (images of the largest / images of the smallest), 1.0 = linear.

    .venv/bin/python bench/data_stages.py --data ../shared/datasets/cats_and_dogs_filtered.zip /work/data/gen30k.zip
"""

import argparse
import glob
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

RUNNERS = {
    "in_memory": [],
    "multi_processing": ["--direct_running_mode=multi_processing", "--direct_num_workers=0"],  # 0: one a core
}
LAST_STAGE = "Transform"


def run_stages(data: str, beam_args: list, root: str) -> int:
    """Runs the data stages on `data` under `root`; returns how many images became examples."""
    from tfx import v1 as tfx
    from tfx.orchestration.pipeline import RunOptions

    from components import contract
    from pipeline.pipeline import create_pipeline
    from pipeline.settings import LocalRunSettings

    pipeline = create_pipeline(
        LocalRunSettings(data_uri=os.path.abspath(data), beam_pipeline_args=tuple(beam_args)),
        pipeline_root=os.path.join(root, "pipeline"),
        serving_model_dir=os.path.join(root, "serving"),
        enable_cache=False,
        metadata_connection_config=tfx.orchestration.metadata.sqlite_metadata_connection_config(
            os.path.join(root, "metadata.sqlite")
        ),
    )
    tfx.orchestration.LocalDagRunner().run(pipeline, run_options=RunOptions(to_nodes=[LAST_STAGE]))
    [examples] = glob.glob(os.path.join(root, "pipeline", "ImageExampleGen", "examples", "*"))
    report = contract.IngestReport.read(examples)
    return sum(report.images(split) for split in report.counts)


def measure(data: str, runner: str) -> dict:
    """One configuration in a fresh process: its wall and CPU time (workers included) and peak memory."""
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as root:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.monotonic()
        proc = subprocess.run([sys.executable, __file__, "--one", data, runner, root], capture_output=True, text=True)
        wall = time.monotonic() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{runner} on {data} failed:\n{proc.stderr[-3000:]}")
    child = json.loads(proc.stdout.strip().splitlines()[-1])
    return {
        "data": data,
        "runner": runner,
        "beam_args": RUNNERS[runner],
        "images": child["images"],
        "wall_seconds": round(wall, 1),
        "cpu_seconds": round((after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime), 1),
        "images_per_second": round(child["images"] / wall, 1),
        "peak_rss_mb_launcher": child["peak_rss_mb_launcher"],
        "peak_rss_mb_largest_worker": child["peak_rss_mb_largest_worker"],  # 0: no worker processes
    }


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--one":
        images = run_stages(sys.argv[2], RUNNERS[sys.argv[3]], sys.argv[4])
        # Peaks of this process and of its (waited-for) worker processes: a parent's counter would keep the
        # largest of every configuration it ran.
        print(
            json.dumps(
                {
                    "images": images,
                    "peak_rss_mb_launcher": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
                    "peak_rss_mb_largest_worker": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024),
                }
            )
        )
        return
    import record

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", nargs="+", required=True, help="zips or folders, smallest first")
    args = parser.parse_args()
    runs = []
    for i, data in enumerate(args.data):
        order = list(RUNNERS) if i % 2 == 0 else list(reversed(RUNNERS))
        for runner in order:
            runs.append(measure(data, runner))
            print(json.dumps(runs[-1]), file=sys.stderr)
    by = {(r["data"], r["runner"]): r for r in runs}
    summary = {}
    for runner in RUNNERS:
        small, large = by[(args.data[0], runner)], by[(args.data[-1], runner)]
        summary[runner] = {
            "growth_vs_linear": round(
                (large["wall_seconds"] / small["wall_seconds"]) / (large["images"] / small["images"]), 2
            ),
        }
    for data in args.data:
        summary[f"multi_processing_over_in_memory_wall[{os.path.basename(data)}]"] = round(
            by[(data, "multi_processing")]["wall_seconds"] / by[(data, "in_memory")]["wall_seconds"], 2
        )
    record.save("data_stages", {"runs": runs, "summary": summary})


if __name__ == "__main__":
    main()
