"""Batch scoring on Beam: every image of a zip, a folder or an object-store prefix through the exported
model, one JSON line per image ({file, class_name, probability}, or {file, error} for a file that does
not decode). The notebook's "predict new images", at scale; the job goes on past bad files."""

import json
import os
import posixpath
import zipfile
from typing import Iterable, List, Optional, Sequence, Tuple

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions

from components.errors import CatdogError
from serving.status import ServingError

# Files a folder or zip holds that are not anyone's images: operating-system litter.
_LITTER_NAMES = (".DS_Store", "Thumbs.db")
_LITTER_FOLDER = "__MACOSX/"
MAX_BATCH_IMAGES = 32


def _is_litter(path: str) -> bool:
    name = posixpath.basename(path)
    return path.startswith(_LITTER_FOLDER) or name in _LITTER_NAMES or name.startswith(".")


def list_images(data: str) -> Tuple[Optional[str], List[str]]:
    """(the zip holding them or None, the files to score): a zip's members, a folder's files (recursively),
    or the objects under an object-store prefix."""
    if data.lower().endswith(".zip"):
        try:
            with FileSystems.open(data) as f, zipfile.ZipFile(f) as zf:
                members = [i.filename for i in zf.infolist() if not i.is_dir() and not _is_litter(i.filename)]
        except (OSError, zipfile.BadZipFile) as e:
            raise CatdogError(f"{data}: not a readable zip: {e}") from e
        files = sorted(members)
        source = data
    elif "://" in data:
        prefix = data.rstrip("/") + "/"
        try:
            matched = FileSystems.match([prefix + "**"])[0].metadata_list
        except Exception as e:  # noqa: BLE001 - each filesystem has its own errors
            raise CatdogError(f"{data}: cannot list the prefix: {e}") from e
        files = sorted(m.path for m in matched if not _is_litter(m.path[len(prefix):]))
        source = None
    elif os.path.isdir(data):
        files = sorted(
            os.path.join(folder, name)
            for folder, subfolders, names in os.walk(data)
            for name in names
            if not _is_litter(os.path.relpath(os.path.join(folder, name), data))
        )
        source = None
    else:
        raise CatdogError(f"{data}: no such zip, folder or object-store prefix")
    if not files:
        raise CatdogError(f"{data}: holds no files to score")
    return source, files


class _ReadImage(beam.DoFn):
    """file name -> (file name, bytes), or (file name, the reason it could not be read)."""

    def __init__(self, zip_path: Optional[str]):
        self._zip_path = zip_path
        self._zip = None

    def setup(self):
        if self._zip_path is not None:
            self._zip = zipfile.ZipFile(FileSystems.open(self._zip_path))

    def process(self, name: str):
        try:
            if self._zip is not None:
                data = self._zip.read(name)
            else:
                with FileSystems.open(name) as f:
                    data = f.read()
        except (OSError, zipfile.BadZipFile, RuntimeError) as e:  # RuntimeError: an encrypted member
            yield {"file": name, "error": f"cannot read: {e}"}
            return
        yield name, data

    def teardown(self):
        if self._zip is not None:
            self._zip.close()


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
    zip_path, files = list_images(data)
    with beam.Pipeline(options=PipelineOptions(list(beam_args))) as pipeline:
        read = (
            pipeline
            | "ListFiles" >> beam.Create(files)
            | "Spread" >> beam.Reshuffle()
            | "Read" >> beam.ParDo(_ReadImage(zip_path))
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
