"""ImageExampleGen's executor: a Beam pipeline that checks every image decodes and writes tf.Examples.

Built for any Beam runner: the workers read the dataset from where all of them can (sources, staging) and
everything they find comes back through the pipeline's outputs under the Examples artifact, not through
this process's memory or disk."""

import json
import os
import re
from typing import Any

import apache_beam as beam
import tensorflow as tf
from tfx import types
from tfx.components.util import examples_utils
from tfx.dsl.components.base import base_beam_executor
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils

from components import contract, limits, preprocessing
from components.ingest import duplicates, layout, sources, staging
from components.ingest.errors import DatasetError

EXAMPLES_KEY = "examples"
DATA_URI_KEY = "data_uri"
SHA256_KEY = "sha256"
EVAL_PERCENT_KEY = "eval_percent"
UNLABELLED_KEY = "unlabelled"
DOWNLOAD_TIMEOUT_KEY = "download_timeout_seconds"
DATA_FINGERPRINT_KEY = "data_fingerprint"
KEEP_CROSS_SPLIT_DUPLICATES_KEY = "keep_cross_split_duplicates"
FAILED_REPORTS_DIR = "failed_ingest_reports"
SKIPPED_IN_MESSAGE = 5  # the first few skipped files an error lists; the report holds them all
# Inside the Examples artifact while ingestion runs, removed when it ends: the staged copy of a local dataset
# and the skipped files as the workers wrote them.
WORK_DIR = "_ingestion"


def decode_problem(data: bytes) -> str | None:
    """Why these bytes would not feed training, or None. Uses TensorFlow's decoder: the one Transform runs."""
    if not data:
        return "empty file"
    try:
        over_limit = preprocessing.pixel_limit_problem(data)  # from the header: a bomb is never decoded
        if over_limit:
            return over_limit
        tf.io.decode_image(data, channels=3, expand_animations=False)
    except (tf.errors.InvalidArgumentError, tf.errors.UnimplementedError) as e:
        detail = re.sub(r"\{\{.*?\}\}|\[Op:\w+\]", "", e.message.splitlines()[0]).strip()
        return f"not a decodable JPEG, PNG, GIF or BMP image ({detail})"
    return None


class _CheckImage(beam.DoFn):
    """Undecodable files go to the 'skipped' output instead of training."""

    def process(self, element):
        entry, data = element
        problem = decode_problem(data)
        if problem:
            yield beam.pvalue.TaggedOutput(sources.ReadFiles.SKIPPED, (entry.member, problem))
        else:
            example = contract.tf_example(data, entry.label, entry.member)
            yield duplicates.Image(entry.split, entry.member, duplicates.digest(data), example)


def _write_text(path: str, text: str) -> None:
    with tf.io.gfile.GFile(path, "w") as f:
        f.write(text)


def _skipped_summary(skipped: list[tuple[str, str]], shown: int = SKIPPED_IN_MESSAGE) -> str:
    if not skipped:
        return "no file was skipped"
    listed = "; ".join(f"{member}: {reason}" for member, reason in sorted(skipped)[:shown])
    more = f" and {len(skipped) - shown} more" if len(skipped) > shown else ""
    return f"{len(skipped)} files skipped: {listed}{more}"


def _dropped_summary(found: dict[str, Any]) -> str:
    n = found[duplicates.DROPPED]
    return f"; {n} eval copies of training images dropped (--keep-cross-split-duplicates keeps them)" if n else ""


def _keep_failed_report(examples_uri: str, report: contract.IngestReport) -> str:
    """TFX deletes a failed execution's output folder, report included: a copy goes beside the component's
    executions (<pipeline root>/ImageExampleGen/failed_ingest_reports/<execution>.json). Returns where, for
    the error message."""
    component_dir = os.path.dirname(os.path.dirname(examples_uri))
    path = os.path.join(component_dir, FAILED_REPORTS_DIR, f"{os.path.basename(examples_uri)}.json")
    try:
        tf.io.gfile.makedirs(os.path.dirname(path))
        _write_text(path, report.to_json())
    except (OSError, tf.errors.OpError):
        return ""  # the message still lists the first files
    return f" (every skipped file: {path})"


def _check_fingerprint(listing: sources.Listing, expected: str) -> None:
    """The runner keyed the cache on this fingerprint: data that changed since would be cached under the old key."""
    actual = listing.fingerprint()
    if expected and actual != expected:
        raise DatasetError(
            f"{listing.source.name}: changed since the run started (its files' fingerprint was "
            f"{expected}, is {actual}); run again"
        )


class Executor(base_beam_executor.BaseBeamExecutor):
    def Do(
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ) -> None:
        data_uri = exec_properties[DATA_URI_KEY]
        source = sources.resolve(
            data_uri,
            sha256=exec_properties.get(SHA256_KEY) or "",
            progress=True,
            timeout_seconds=exec_properties.get(DOWNLOAD_TIMEOUT_KEY) or limits.DOWNLOAD_TIMEOUT_SECONDS,
        )
        listing = source.list_files()
        _check_fingerprint(listing, exec_properties.get(DATA_FINGERPRINT_KEY) or "")
        data = layout.place(
            listing, int(exec_properties[EVAL_PERCENT_KEY]), unlabelled=bool(exec_properties.get(UNLABELLED_KEY))
        )
        examples = artifact_utils.get_single_instance(output_dict[EXAMPLES_KEY])
        work = os.path.join(examples.uri, WORK_DIR)
        try:
            names = [e.member for e in data.entries]
            reachable, not_copied = staging.reachable(source, names, os.path.join(work, "data"))
            lost = {m for m, _ in not_copied}
            entries = [e for e in data.entries if e.member not in lost]
            written, found = self._write_examples(
                reachable,
                entries,
                data.splits,
                examples.uri,
                work,
                bool(exec_properties.get(KEEP_CROSS_SPLIT_DUPLICATES_KEY)),
            )
            skipped = data.skipped + not_copied + written
        finally:
            if tf.io.gfile.exists(work):
                tf.io.gfile.rmtree(work)

        bad = {m for m, _ in skipped} | set(found["dropped"])
        counts = {s: {name: 0 for name in data.count_keys} for s in data.splits}
        for e in data.entries:
            if e.member not in bad:
                counts[e.split][data.count_key(e)] += 1
        report = contract.IngestReport(
            data_uri=data_uri,
            class_names=data.class_names,
            split_by_hash=data.split_by_hash,
            counts=counts,
            skipped=[contract.Skipped(m, r) for m, r in sorted(skipped)],
            duplicates=found,
        )
        _write_text(os.path.join(examples.uri, contract.INGEST_REPORT_FILE), report.to_json())
        empty = [(split, name) for split, per_class in counts.items() for name, n in per_class.items() if n == 0]
        if empty:
            split, name = empty[0]
            of_class = "" if name == layout.UNLABELLED else f" of class {name!r}"
            raise DatasetError(
                f"{data_uri}: split {split!r} has no decodable image{of_class}; "
                f"{_skipped_summary(skipped)}{_dropped_summary(found)}{_keep_failed_report(examples.uri, report)}"
            )

        examples.split_names = artifact_utils.encode_split_names(list(data.splits))
        # What tfx-bsl readers look for to know how to parse the files.
        examples_utils.set_payload_format(examples, example_gen_pb2.PayloadFormat.FORMAT_TF_EXAMPLE)
        examples_utils.set_file_format(examples, "tfrecords_gzip")
        examples.set_string_custom_property("class_names", json.dumps(data.class_names))
        examples.set_int_custom_property("skipped_files", len(skipped))
        for name in duplicates.COUNTS:
            examples.set_int_custom_property(name, found[name])

    def _write_examples(
        self,
        source: sources.Source,
        entries: list[layout.Entry],
        splits: tuple[str, ...],
        uri: str,
        work: str,
        keep_cross_split_duplicates: bool,
    ) -> tuple[list[tuple[str, str]], dict[str, Any]]:
        """Writes each split's TFRecords under uri; returns the skipped files (member, reason) and the duplicates
        as ingest_report.json holds them, which the workers wrote under work."""
        skipped_prefix = os.path.join(work, "skipped")
        duplicates_prefix = os.path.join(work, "duplicates")
        with self._make_beam_pipeline() as p:
            read = (
                p
                | "Entries" >> beam.Create([(entry.member, entry) for entry in entries])
                | "Spread" >> beam.Reshuffle()  # else one worker may read them all
                | "ReadFiles"
                >> beam.ParDo(sources.ReadFiles(source)).with_outputs(sources.ReadFiles.SKIPPED, main="ok")
            )
            images = read.ok | "CheckImage" >> beam.ParDo(_CheckImage()).with_outputs(
                sources.ReadFiles.SKIPPED, main="ok"
            )
            kept, found = images.ok | "Duplicates" >> duplicates.FindDuplicates(keep_cross_split_duplicates)
            by_split = kept | "BySplit" >> beam.Partition(lambda image, _: splits.index(image.split), len(splits))
            for split, pcoll in zip(splits, by_split):
                _ = (
                    pcoll
                    | f"Examples[{split}]" >> beam.Map(lambda image: image.example)
                    | f"Write[{split}]"
                    >> beam.io.WriteToTFRecord(
                        os.path.join(uri, f"Split-{split}", "data_tfrecord"), file_name_suffix=".gz"
                    )
                )
            _ = (
                (read[sources.ReadFiles.SKIPPED], images[sources.ReadFiles.SKIPPED])
                | "AllSkipped" >> beam.Flatten()
                | "ToJson" >> beam.Map(json.dumps)
                | "WriteSkipped" >> beam.io.WriteToText(skipped_prefix, file_name_suffix=".jsonl")
            )
            _ = (
                found
                | "DuplicatesToJson" >> beam.Map(lambda d: json.dumps(d.to_json()))
                | "WriteDuplicates" >> beam.io.WriteToText(duplicates_prefix, file_name_suffix=".jsonl")
            )
        skipped = [tuple(line) for line in _read_json_lines(skipped_prefix)]
        [found] = _read_json_lines(duplicates_prefix)
        return skipped, found


def _read_json_lines(prefix: str) -> list[Any]:
    """What the workers wrote as JSON lines in the shards of prefix*.jsonl."""
    values = []
    for path in tf.io.gfile.glob(f"{prefix}*.jsonl"):
        with tf.io.gfile.GFile(path) as f:
            values.extend(json.loads(line) for line in f if line.strip())
    return values
