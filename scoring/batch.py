"""Batch scoring on Beam: every image of a zip, a folder or an object-store prefix through the exported
model, one JSON line per image ({file, class_name, probability, in_distribution, ood_score}, or {file, error} for
a file that does not decode). The notebook's "predict new images", at scale; the job goes on past bad files."""

from collections.abc import Iterable

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions

from components import scores
from components.ingest import sources
from serving.status import ServingError

MAX_BATCH_IMAGES = 32


def list_images(data: str) -> tuple[sources.Source, list[str]]:
    """(the source, the names of its files to score): a zip's members, a folder's files (recursively), or the
    objects under an object-store prefix, as ingestion lists them."""
    source = sources.resolve(data)
    return source, [f.name for f in source.list_files().files]


class _Score(beam.DoFn):
    """A batch of (file, bytes) -> one row per file; a batch with an undecodable image is scored one
    image at a time, so only that file gets an error row."""

    def __init__(self, model: str, signature_name: str):
        self._model = model
        self._signature_name = signature_name
        self._predictor = None

    def setup(self):
        from serving.in_process import InProcessPredictor  # TensorFlow, in the worker

        self._predictor = InProcessPredictor(self._model, self._signature_name)

    def process(self, batch: list[tuple[str, bytes]]):  # BatchElements gives lists; Beam checks the hint
        try:
            answers = self._predictor.predict([data for _, data in batch])
        except ServingError as e:
            if len(batch) == 1:
                yield scores.failed_row(batch[0][0], e.message)
                return
            for item in batch:  # find the file that broke the batch; the others are scored
                yield from self.process([item])
            return
        for (name, _), answer in zip(batch, answers):
            yield scores.scored_row(
                name,
                answer["class_name"],
                answer["probability"],
                answer.get("in_distribution"),
                answer.get("ood_score"),
            )


def score(data: str, model: str, output: str, signature_name: str, beam_args: Iterable[str] = ()) -> tuple[int, int]:
    """Writes output (JSON lines); returns (images scored, files that failed)."""
    source, files = list_images(data)
    with beam.Pipeline(options=PipelineOptions(list(beam_args))) as pipeline:
        read = (
            pipeline
            | "ListFiles" >> beam.Create([(name, source.path_of(name)) for name in files])
            | "Spread" >> beam.Reshuffle()
            | "ReadFiles" >> beam.ParDo(sources.ReadFiles(source)).with_outputs(sources.ReadFiles.SKIPPED, main="ok")
        )
        unreadable = read[sources.ReadFiles.SKIPPED] | "Unreadable" >> beam.MapTuple(
            lambda name, reason: scores.failed_row(source.path_of(name), f"cannot read: {reason}")
        )
        scored = (
            read.ok
            | "Batch" >> beam.BatchElements(min_batch_size=1, max_batch_size=MAX_BATCH_IMAGES)
            | "Score" >> beam.ParDo(_Score(model, signature_name))
        )
        _ = (
            (unreadable, scored)
            | "All" >> beam.Flatten()
            | "ToJson" >> beam.Map(scores.to_line)
            | "Write" >> beam.io.WriteToText(output, shard_name_template="", num_shards=1)
        )
    with FileSystems.open(output) as f:
        return scores.count_rows(f.read().decode("utf-8").splitlines())
