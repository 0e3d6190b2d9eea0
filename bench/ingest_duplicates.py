"""Issue 13's duplicate check on a real zip: how many exact duplicate images it holds within a split and
across train and eval, as ImageExampleGen's executor reports them; and what dropping the eval copies
costs: ingestion by default (the examples wait for the duplicate groups, a side input) against
--keep-cross-split-duplicates (no filter), same run.

Writes bench/results/ingest_duplicates.json (and prints it).

    .venv/bin/python bench/ingest_duplicates.py [--data ../shared/datasets/cats_and_dogs_filtered.zip]
"""

import argparse
import os
import tempfile
import time

import record  # noqa: E402  bench/record.py: a script's own folder is on sys.path

BENCH = os.path.dirname(os.path.abspath(__file__))
DEFAULT_DATA = os.path.join(BENCH, "..", "..", "shared", "datasets", "cats_and_dogs_filtered.zip")


def _ingest(data: str, work: str, keep_cross_split: bool):
    """(seconds, ingest_report.json) of one executor run."""
    from tfx.types import standard_artifacts

    from components import contract
    from components.ingest import executor
    from pipeline.settings import RunSettings

    examples = standard_artifacts.Examples()
    examples.uri = os.path.join(work, "examples")
    props = {
        executor.DATA_URI_KEY: data,
        executor.EVAL_PERCENT_KEY: RunSettings.eval_percent,
        executor.KEEP_CROSS_SPLIT_DUPLICATES_KEY: int(keep_cross_split),
    }
    start = time.perf_counter()
    executor.Executor().Do({}, {executor.EXAMPLES_KEY: [examples]}, props)
    seconds = time.perf_counter() - start
    return seconds, contract.IngestReport.read(examples.uri)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=DEFAULT_DATA)
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from components.ingest import duplicates

    data = os.path.abspath(args.data)
    load_before = round(os.getloadavg()[0], 2)
    seconds, reports = {True: [], False: []}, {}
    with tempfile.TemporaryDirectory(prefix="catdog-dupes-") as work:
        # ABBA: the first run's one-time costs (imports, TensorFlow's start) and drifting load fall on both.
        for i, keep in enumerate((True, False, False, True)):
            took, reports[keep] = _ingest(data, os.path.join(work, str(i)), keep_cross_split=keep)
            seconds[keep].append(round(took, 1))
    report = reports[False]  # the default's
    found = report.duplicates
    record.save(
        "ingest_duplicates",
        {
            "data": data,
            "images": sum(report.images(split) for split in report.counts),
            "counts_after_dropping": report.counts,
            "skipped_files": len(report.skipped),
            **{name: found[name] for name in duplicates.COUNTS},
            "groups": found["groups"],
            "load_average_1min_before_after": [load_before, round(os.getloadavg()[0], 2)],
            "ingest_seconds_keep_cross_split": seconds[True],
            "ingest_seconds_default_drop": seconds[False],
            "drop_over_keep": round(sum(seconds[False]) / sum(seconds[True]), 2),
        },
    )


if __name__ == "__main__":
    main()
