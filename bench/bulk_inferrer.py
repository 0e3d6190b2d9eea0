"""The pipeline's BulkInferrer (--score-data) against `catdog score` on the same images with the same model,
same run, in ABBA order (BulkInferrer, score, score, BulkInferrer by default) so load drift cancels out.

BulkInferrer reads tf.Examples, so its images are first ingested (ImageExampleGen, unlabelled, once, timed
apart); each side's time includes its model load and Beam start. Also checks the two agree on every image.
Writes bench/results/bulk_inferrer.json (and prints it).

    .venv/bin/python bench/bulk_inferrer.py --model MODEL_VERSION_DIR --data runs/validation1000.zip
"""

import argparse
import json
import os
import tempfile
import time

import record  # noqa: E402  bench/record.py: a script's own folder is on sys.path


def _ingest(data: str, uri: str):
    """(the Examples, seconds): the imports stay out of the time, as they do for the other sides."""
    from tfx.types import standard_artifacts

    from components.ingest import executor

    examples = standard_artifacts.Examples()
    examples.uri = uri
    start = time.perf_counter()
    executor.Executor().Do(
        {},
        {executor.EXAMPLES_KEY: [examples]},
        {executor.DATA_URI_KEY: data, executor.EVAL_PERCENT_KEY: 20, executor.UNLABELLED_KEY: 1},
    )
    return examples, time.perf_counter() - start


def _model_artifact(model_dir: str, work: str):
    """A Model artifact whose serving folder is the exported version, as the Trainer's is."""
    from tfx.types import standard_artifacts
    from tfx.utils import path_utils

    model = standard_artifacts.Model()
    model.uri = os.path.join(work, "model")
    serving = path_utils.serving_model_dir(model.uri, path_utils.is_old_model_artifact(model))
    os.makedirs(os.path.dirname(serving), exist_ok=True)
    os.symlink(os.path.abspath(model_dir), serving)
    return model


def _bulk_infer(examples, model, uri: str, beam_args) -> float:
    from tfx.components.bulk_inferrer import executor
    from tfx.dsl.components.base import base_beam_executor
    from tfx.types import standard_artifacts
    from tfx.types import standard_component_specs as specs
    from tfx.utils import proto_utils

    from pipeline.pipeline import bulk_inferrer_specs

    output = standard_artifacts.Examples()
    output.uri = uri
    model_spec, output_example_spec = bulk_inferrer_specs()
    start = time.perf_counter()
    executor.Executor(base_beam_executor.BaseBeamExecutor.Context(beam_pipeline_args=list(beam_args))).Do(
        {specs.EXAMPLES_KEY: [examples], specs.MODEL_KEY: [model]},
        {specs.OUTPUT_EXAMPLES_KEY: [output]},
        {
            specs.MODEL_SPEC_KEY: proto_utils.proto_to_json(model_spec),
            specs.DATA_SPEC_KEY: "{}",
            specs.OUTPUT_EXAMPLE_SPEC_KEY: proto_utils.proto_to_json(output_example_spec),
        },
    )
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="an exported model (a version folder)")
    parser.add_argument("--data", required=True, help="a zip of the images to score")
    parser.add_argument("--order", default="ABBA", help="A: BulkInferrer, B: catdog score, one pass each letter")
    parser.add_argument("--beam-arg", action="append", default=[], dest="beam_args")
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from components import contract
    from components.scores import bulk_inferrer_rows
    from scoring.batch import score

    load_before = round(os.getloadavg()[0], 2)
    with tempfile.TemporaryDirectory(prefix="catdog-bulk-") as work:
        examples, ingest_seconds = _ingest(args.data, os.path.join(work, "examples"))
        model = _model_artifact(args.model, work)
        seconds = {"A": [], "B": []}
        for i, side in enumerate(args.order):
            out = os.path.join(work, f"pass{i}")
            if side == "A":
                seconds["A"].append(_bulk_infer(examples, model, out, args.beam_args))
                bulk = {r["file"]: r for r in bulk_inferrer_rows(out, ["cats", "dogs"])}  # the tutorial zip's classes
            else:
                start = time.perf_counter()
                scored, failed = score(args.data, args.model, out, contract.IMAGE_BYTES_SIGNATURE, args.beam_args)
                seconds["B"].append(time.perf_counter() - start)
                with open(out) as f:
                    by_score = {r["file"]: r for r in map(json.loads, f)}
    images = len(bulk)
    bulk_rate = images * len(seconds["A"]) / sum(seconds["A"])
    score_rate = scored * len(seconds["B"]) / sum(seconds["B"])
    results = {
        "model": args.model,
        "data": os.path.abspath(args.data),
        "images": images,
        "order": args.order,
        "load_average_1min_before_after": [load_before, round(os.getloadavg()[0], 2)],
        "beam_args": args.beam_args,
        "ingest_seconds": round(ingest_seconds, 1),
        "bulk_inferrer": {"seconds": [round(s, 1) for s in seconds["A"]], "images_per_s": round(bulk_rate, 2)},
        "catdog_score": {
            "scored": scored,
            "failed": failed,
            "seconds": [round(s, 1) for s in seconds["B"]],
            "images_per_s": round(score_rate, 2),
        },
        "bulk_over_score_images_per_s": round(bulk_rate / score_rate, 3),
        # With ingestion counted once per pass, as in a pipeline run that scores new data once.
        "bulk_with_ingest_over_score": round(
            images / (ingest_seconds + sum(seconds["A"]) / len(seconds["A"])) / score_rate, 3
        ),
        "same_files": set(bulk) == set(by_score),
        "same_class_names": all(bulk[f]["class_name"] == by_score[f]["class_name"] for f in bulk),
        "max_probability_difference": max(abs(bulk[f]["probability"] - by_score[f]["probability"]) for f in bulk),
    }
    record.save("bulk_inferrer", results)


if __name__ == "__main__":
    main()
