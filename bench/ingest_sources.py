"""Ingestion of the tutorial's 3,000 images from a zip and from the same files in a folder, on the in-process
DirectRunner and on the multi-processing one (2 workers), and what staging the local data under the pipeline
root costs of it: all in one run, compared as ratios.

    .venv/bin/python bench/ingest_sources.py [--data ../shared/datasets/cats_and_dogs_filtered.zip] [--rounds 3]

Each ingestion's time is the fastest of its rounds.

Writes bench/results/ingest_sources.json."""

import argparse
import os
import sys
import tempfile
import time
import zipfile

import record  # bench/record.py: a script's own folder is on sys.path

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tests"))  # the tests' way of running the executor and reading its report

from ingest_runs import MULTI_PROCESSING, report_of, run_ingestion  # noqa: E402

from components.ingest import layout, sources, staging  # noqa: E402

DEFAULT_DATA = os.path.join(os.path.dirname(REPO), "shared", "datasets", "cats_and_dogs_filtered.zip")


def _timed(make):
    started = time.perf_counter()
    value = make()
    return time.perf_counter() - started, value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=DEFAULT_DATA)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = os.path.join(tmp, "folder")
        with zipfile.ZipFile(args.data) as zf:
            zf.extractall(folder)
        result = {"data": args.data}
        for name, data in (("zip", args.data), ("folder", folder)):
            source = sources.resolve(data)
            names = [e.member for e in layout.place(source.list_files(), 20).entries]
            seconds, _ = _timed(
                lambda s=source, n=names, d=name: staging.reachable(s, n, os.path.join(tmp, "staged", d))
            )
            result[f"staging_{name}_seconds"] = round(seconds, 2)
        runs = [("zip", args.data, ()), ("folder", folder, ()), ("zip_multi_processing", args.data, MULTI_PROCESSING)]
        for round_ in range(args.rounds):  # alternating, so that a warm-up or a busy minute falls on all three
            for name, data, beam_args in runs:
                uri = os.path.join(tmp, "ImageExampleGen", "examples", f"{name}-{round_}")
                seconds, examples = _timed(lambda u=uri, d=data, b=beam_args: run_ingestion(u, d, b))
                result.setdefault(f"ingest_{name}_seconds_each_round", []).append(round(seconds, 1))
                result[f"ingest_{name}_counts"] = report_of(examples)["counts"]
        for name, _, _ in runs:
            result[f"ingest_{name}_seconds"] = min(result[f"ingest_{name}_seconds_each_round"])
        for name in ("zip", "folder"):
            result[f"staging_{name}_share_of_ingestion"] = round(
                result[f"staging_{name}_seconds"] / result[f"ingest_{name}_seconds"], 3
            )
        result["folder_over_zip"] = round(result["ingest_folder_seconds"] / result["ingest_zip_seconds"], 2)
        result["multi_processing_over_in_process"] = round(
            result["ingest_zip_multi_processing_seconds"] / result["ingest_zip_seconds"], 2
        )
        result["load_average_at_end"] = os.getloadavg()[0]
    record.save("ingest_sources", result)


if __name__ == "__main__":
    main()
