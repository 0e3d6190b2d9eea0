"""Puts a dataset where every Beam worker can read it. An object-store zip or prefix already is; a local zip
or folder (a path, or an http(s) download in this machine's cache) is copied under the pipeline root, into
the execution's own output folder, and removed when ingestion ends: a distributed runner's workers do not
see the launching machine's disk, and TFX deletes a failed execution's folder with whatever it holds."""

import concurrent.futures
import shutil

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from components import files, limits
from components.ingest import sources

_COPY_THREADS = 8  # a folder's files are copied a few at a time: to an object store each is a request
_CHUNK = 1 << 20


def _copy(source: str, destination: str, max_bytes: int | None) -> None:
    """Copies a regular file (open_binary refuses anything else before the destination exists), writing at
    most max_bytes (None: the zip itself, whatever its size); a copy cut off at the limit is removed."""
    with sources.open_binary(source) as src:
        try:
            with FileSystems.create(destination, compression_type=CompressionTypes.UNCOMPRESSED) as dst:
                if max_bytes is None:
                    shutil.copyfileobj(src, dst, _CHUNK)
                else:
                    files.copy_capped(src, dst, source, max_bytes)
        except files.FileRefused:
            FileSystems.delete([destination])
            raise


def reachable(source: sources.Source, names: list[str], folder: str) -> tuple[sources.Source, list[tuple[str, str]]]:
    """(a source holding at least the named files that workers can read, [(name, reason)] for files of a local
    folder that could not be copied). Copies into folder when the source is local."""
    if not source.is_local:
        return source, []
    if source.is_zip:
        staged = FileSystems.join(folder, "data.zip")
        _copy(source.location, staged, max_bytes=None)
        return sources.Source(staged, is_zip=True, shown_as=source.name), []

    def copy(name: str):
        try:
            _copy(source.path_of(name), FileSystems.join(folder, name), limits.MAX_FILE_BYTES)
        except files.FileRefused as e:  # a FIFO, a device, unreadable, or grown past the limit since listed
            return name, e.reason
        except Exception as e:  # noqa: BLE001 - each filesystem raises its own errors
            return name, f"unreadable ({e})"
        return None

    with concurrent.futures.ThreadPoolExecutor(_COPY_THREADS) as pool:
        failed = [problem for problem in pool.map(copy, names) if problem]
    return sources.Source(folder, is_zip=False, shown_as=source.name), failed
