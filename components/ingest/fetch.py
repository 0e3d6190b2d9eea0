"""Brings a dataset zip to a local file: http(s) downloads are cached by URI, local files are used in place
(object-store URIs need no copy: components/ingest/sources.py reads them where they are). Nothing enters
the cache unchecked: a download goes to a temporary file, is checked (length against Content-Length, that
it is a zip, the sha256 when given) and only then renamed into the cache; a cached file that fails the
checks later is discarded and fetched again."""

import hashlib
import os
import sys
import tempfile
import time
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Callable
from typing import BinaryIO

from components import files, limits
from components.ingest.errors import DatasetError

_CHUNK = 1 << 20
# Longest wait for one read, within the overall deadline: a server that stops sending fails this fast.
_READ_TIMEOUT_SECONDS = 60
_TEMP_PREFIX = ".download-"  # then the pid of the process downloading, so a later run can tell it is dead

CACHE_DIR_ENV = "CATDOG_CACHE_DIR"


def default_cache_dir() -> str:
    return os.environ.get(CACHE_DIR_ENV) or os.path.join(os.path.expanduser("~"), ".cache", "catdog")


def sha256_of(path: str, open_file: Callable[[str], BinaryIO] = files.open_regular) -> str:
    digest = hashlib.sha256()
    with open_file(path) as f:
        for block in iter(lambda: f.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _check_sha256(path: str, expected: str, source: str) -> None:
    if expected:
        actual = sha256_of(path)
        if actual != expected.lower():
            raise DatasetError(f"{source}: sha256 mismatch (expected {expected}, got {actual})")


def _zip_problem(path: str, sha256: str) -> str | None:
    """Why a downloaded or cached file is not the dataset, or None."""
    if not zipfile.is_zipfile(path):
        with open(path, "rb") as f:
            start = f.read(40)
        return f"not a zip file (it starts with {start!r})"
    if sha256:
        actual = sha256_of(path)
        if actual != sha256.lower():
            return f"sha256 mismatch (expected {sha256}, got {actual})"
    return None


def _pid_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def _remove_abandoned_temps(folder: str) -> None:
    """Temporary files of downloads whose process was killed (no cleanup code runs after SIGKILL)."""
    for entry in os.scandir(folder):
        pid = entry.name[len(_TEMP_PREFIX) :].partition("-")[0]
        if entry.name.startswith(_TEMP_PREFIX) and pid.isdigit() and not _pid_running(int(pid)):
            os.remove(entry.path)


def _copy_checked(source: str, open_source, dest: str, sha256: str, progress: bool, timeout_seconds: float) -> None:
    """Copies what open_source() yields (a response or file, and its expected length or None) into a temporary
    file beside dest, checks it, then renames it into place. The temporary file is removed on any failure."""
    folder = os.path.dirname(dest)
    os.makedirs(folder, exist_ok=True)
    _remove_abandoned_temps(folder)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f"{_TEMP_PREFIX}{os.getpid()}-")
    deadline = time.monotonic() + timeout_seconds
    try:
        with os.fdopen(fd, "wb") as out:
            stream, total = open_source()
            with stream:
                bar = None
                if progress:
                    from tqdm import tqdm

                    bar = tqdm(total=total, unit="B", unit_scale=True, desc=os.path.basename(dest))
                received = 0
                # read1: whatever has arrived, so a trickling server cannot hold one read past the deadline.
                read = getattr(stream, "read1", stream.read)
                for block in iter(lambda: read(_CHUNK), b""):
                    out.write(block)
                    received += len(block)
                    if bar:
                        bar.update(len(block))
                    if time.monotonic() > deadline:
                        raise DatasetError(
                            f"{source}: download not finished after {timeout_seconds:g} s "
                            f"({received:,} bytes so far); see --download-timeout"
                        )
                if bar:
                    bar.close()
        if total is not None and received != total:
            raise DatasetError(f"{source}: download cut short: {received:,} of {total:,} bytes (Content-Length)")
        problem = _zip_problem(tmp, sha256)
        if problem:
            raise DatasetError(f"{source}: download refused, {problem}; nothing was cached")
        os.replace(tmp, dest)
    except OSError as e:  # URLError and HTTPError are OSErrors, and so is a socket timeout
        raise DatasetError(f"{source}: download failed: {e}") from e
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _cached(uri: str, cache_dir: str, sha256: str, copy) -> str:
    """The cache entry for uri, fetched by copy(dest) unless a checked copy is there already."""
    name = os.path.basename(urllib.parse.urlparse(uri).path) or "dataset.zip"
    key = hashlib.sha256(uri.encode()).hexdigest()[:16]
    local = os.path.join(cache_dir or default_cache_dir(), key, name)
    if os.path.exists(local):
        problem = _zip_problem(local, sha256)
        if problem is None:
            return local
        print(
            f"catdog: warning: cached download {local} (from {uri}) fails its check, {problem}; fetching it again",
            file=sys.stderr,
        )
        os.remove(local)
    copy(local)
    return local


def local_path(data_uri: str) -> str | None:
    """The path a plain path or file:// URL names on this machine; None for any other URL."""
    parsed = urllib.parse.urlparse(data_uri)
    if parsed.scheme == "file":
        return urllib.request.url2pathname(parsed.path)
    if parsed.scheme == "" or len(parsed.scheme) == 1:  # a plain path (or a Windows drive letter)
        return data_uri
    return None


def check_local_exists(data_uri: str) -> None:
    """A plain path or file:// URL must name something here: the one-line error, before anything slow runs."""
    local = local_path(data_uri)
    if local is not None and not os.path.exists(local):
        raise DatasetError(f"{data_uri}: no such zip, folder or object-store prefix")


def fetch(
    data_uri: str,
    cache_dir: str = "",
    sha256: str = "",
    progress: bool = False,
    timeout_seconds: float = limits.DOWNLOAD_TIMEOUT_SECONDS,
) -> str:
    """Returns a local path to the zip named by data_uri (http://, https://, file:// or a path)."""
    parsed = urllib.parse.urlparse(data_uri)
    if parsed.scheme in ("http", "https"):

        def open_url():
            response = urllib.request.urlopen(data_uri, timeout=min(_READ_TIMEOUT_SECONDS, timeout_seconds))
            length = response.headers.get("Content-Length")
            return response, int(length) if length and length.isdigit() else None

        return _cached(
            data_uri,
            cache_dir,
            sha256,
            lambda dest: _copy_checked(data_uri, open_url, dest, sha256, progress, timeout_seconds),
        )
    local = local_path(data_uri)
    if local is None:
        raise DatasetError(f"{data_uri}: unsupported scheme {parsed.scheme!r} (use http, https, file, gs or a path)")
    try:
        files.check_regular(local)  # a FIFO would hang the zip's reader, a device never end
    except files.FileRefused as e:
        raise DatasetError(f"{data_uri}: {e.reason}") from e
    _check_sha256(local, sha256, data_uri)
    return local
