"""Issue 14's batch-scoring benchmark: `catdog score` (Beam, DirectRunner) over every image of a zip
against a plain loop of in-process predictions, one image at a time, same model, same run.

Writes bench/results/batch_scoring.json (and prints it).

    .venv/bin/python bench/batch_scoring.py --model MODEL_VERSION_DIR \
        [--data ../shared/datasets/cats_and_dogs_filtered.zip] [--beam-arg=--direct_num_workers=2 ...]
"""

import argparse
import os
import tempfile
import time

import record  # noqa: E402  bench/record.py: a script's own folder is on sys.path

BENCH = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH)
DEFAULT_DATA = os.path.join(REPO, "..", "shared", "datasets", "cats_and_dogs_filtered.zip")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="an exported model (a version folder)")
    parser.add_argument("--data", default=DEFAULT_DATA)
    parser.add_argument("--beam-arg", action="append", default=[], dest="beam_args")
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from components import contract
    from components.ingest.sources import UnreadableMember
    from scoring.batch import list_images, score
    from serving.in_process import InProcessPredictor
    from serving.status import ServingError

    load_before = round(os.getloadavg()[0], 2)
    with tempfile.TemporaryDirectory(prefix="catdog-score-") as work:
        start = time.perf_counter()
        scored, failed = score(
            args.data, args.model, os.path.join(work, "out.jsonl"), contract.IMAGE_BYTES_SIGNATURE, args.beam_args
        )
        beam_seconds = time.perf_counter() - start

    source, members = list_images(args.data)
    start = time.perf_counter()
    predictor = InProcessPredictor(args.model)
    loop_scored = 0
    with source.open() as reader:
        for member in members:
            try:
                predictor.predict([reader.read(member)])
                loop_scored += 1
            except (ServingError, UnreadableMember):
                pass
    loop_seconds = time.perf_counter() - start
    results = {
        "model": args.model,
        "data": os.path.abspath(args.data),
        "files": len(members),
        "cpu_count": os.cpu_count(),
        "load_average_1min_before_after": [load_before, round(os.getloadavg()[0], 2)],
        "beam_args": args.beam_args,
        "catdog_score": {
            "scored": scored,
            "failed": failed,
            "seconds": round(beam_seconds, 1),
            "images_per_s": round(scored / beam_seconds, 2),
        },
        "in_process_loop": {
            "scored": loop_scored,
            "seconds": round(loop_seconds, 1),
            "images_per_s": round(loop_scored / loop_seconds, 2),
        },
    }
    results["score_over_loop_images_per_s"] = round(
        results["catdog_score"]["images_per_s"] / results["in_process_loop"]["images_per_s"], 3
    )
    record.save("batch_scoring", results)


if __name__ == "__main__":
    main()
