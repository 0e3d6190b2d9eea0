"""Batch scoring on Beam: every image of a zip, a folder or an object-store prefix through the exported
model, one JSON line per image ({file, class_name, probability, in_distribution, ood_score}, or {file, error} for
a file that does not decode). The notebook's "predict new images", at scale; the job goes on past bad files."""

import json
from typing import Iterable, List, Sequence, Tuple

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions

from components.ingest import sources
from serving.status import ServingError

MAX_BATCH_IMAGES = 32


def list_images(data: str) -> Tuple[sources.Source, List[str]]:
    """(the source, the names of its files to score): a zip's members, a folder's files (recursively), or the
    objects under an object-store prefix, as ingestion lists them."""
    source = sources.resolve(data)
    return source, [f.name for f in source.list_files().files]


class _ReadImage(beam.DoFn):
    """file name -> (where the file is, bytes), or {file, error} for a file that cannot be read."""

    def __init__(self, source: sources.Source):
        self._source = source
        self._reader = None

    def setup(self):
        self._reader = self._source.open()  # in each worker: an open zip does not pickle

    def process(self, name: str):
        try:
            data = self._reader.read(name)
        except sources.UnreadableMember as e:
            yield {"file": self._source.path_of(name), "error": f"cannot read: {e.reason}"}
            return
        yield self._source.path_of(name), data

    def teardown(self):
        if self._reader is not None:
            self._reader.close()


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

    def process(self, batch: Sequence[Tuple[str, bytes]]):
        try:
            answers = self._predictor.predict([data for _, data in batch])
        except ServingError as e:
            if len(batch) == 1:
                yield {"file": batch[0][0], "error": e.message}
                return
            for item in batch:  # find the file that broke the batch; the others are scored
                yield from self.process([item])
            return
        for (name, _), answer in zip(batch, answers):
            yield {"file": name, **answer}


def score(data: str, model: str, output: str, signature_name: str, beam_args: Iterable[str] = ()) -> Tuple[int, int]:
    """Writes output (JSON lines); returns (images scored, files that failed)."""
    source, files = list_images(data)
    with beam.Pipeline(options=PipelineOptions(list(beam_args))) as pipeline:
        read = (
            pipeline
            | "ListFiles" >> beam.Create(files)
            | "Spread" >> beam.Reshuffle()
            | "Read" >> beam.ParDo(_ReadImage(source))
        )
        unreadable = read | "Unreadable" >> beam.Filter(lambda item: isinstance(item, dict))
        scored = (
            read
            | "Readable" >> beam.Filter(lambda item: isinstance(item, tuple))
            | "Batch" >> beam.BatchElements(min_batch_size=1, max_batch_size=MAX_BATCH_IMAGES)
            | "Score" >> beam.ParDo(_Score(model, signature_name))
        )
        _ = (
            (unreadable, scored)
            | "All" >> beam.Flatten()
            | "ToJson" >> beam.Map(json.dumps)
            | "Write" >> beam.io.WriteToText(output, shard_name_template="", num_shards=1)
        )
    with FileSystems.open(output) as f:
        rows = [json.loads(line) for line in f.read().decode("utf-8").splitlines()]
    failed = sum("error" in row for row in rows)
    return len(rows) - failed, failed
