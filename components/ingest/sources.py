"""Where a dataset's images are, and the one way to list and read them: a zip, a folder, or an object-store
prefix (gs://bucket/pets/), through Beam's FileSystems, so that a Beam worker anywhere reads what the
launching process listed. Ingestion and `catdog score` both go through here.

A Source is a small picklable description; a worker opens it in its DoFn's setup(). Names inside a source
are '/'-separated and relative to it (a zip member's name, a file's path under the folder), so the same
images zipped or in a folder get the same names, hence the same labels, splits and examples."""

import dataclasses
import hashlib
import os
import re
import urllib.parse
import zipfile
import zlib
from typing import Any, BinaryIO

import apache_beam as beam
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from components import files, limits
from components.ingest import fetch
from components.ingest.errors import DatasetError

_LITTER_FOLDER = "__MACOSX"  # the resource forks macOS's zip adds
_LITTER_NAMES = ("Thumbs.db", "desktop.ini")


def is_litter(name: str) -> bool:
    """Operating-system files and anything hidden (.DS_Store, ._x.jpg, .ipynb_checkpoints/): nobody's images."""
    parts = name.split("/")
    return parts[0] == _LITTER_FOLDER or parts[-1] in _LITTER_NAMES or any(p.startswith(".") for p in parts)


class UnreadableMember(DatasetError):
    """One file of the source cannot be used; the others can."""

    def __init__(self, member: str, reason: str):
        super().__init__(f"{member}: {reason}")
        self.member = member
        self.reason = reason


def _files_under(root: str, limit: int | None = None) -> list:
    """Beam's metadata (path, size, modification time) of every file under root, from one listing: an object
    store answers a thousand at a time, where a stat a file would be a request each."""
    literal = re.sub(r"([\[*?])", r"[\1]", root)  # Beam's patterns have no escape: [ * ? as one-character classes
    return FileSystems.match([FileSystems.join(literal, "**")], limits=[limit])[0].metadata_list


def open_binary(location: str) -> BinaryIO:
    """The file as it is: Beam would otherwise guess a compression from the name (.gz, .bz2). A local path is
    opened only if it is a regular file (files.open_regular: a FIFO or a device raises FileRefused)."""
    if "://" not in location:
        return files.open_regular(location)
    return FileSystems.open(location, compression_type=CompressionTypes.UNCOMPRESSED)


def read_member(zf: zipfile.ZipFile, member: str, max_bytes: int = limits.MAX_FILE_BYTES) -> bytes:
    """The member's bytes, never more than max_bytes in memory whatever its header claims."""
    try:
        with zf.open(member) as f:
            data = f.read(max_bytes + 1)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError, RuntimeError) as e:
        # a bad CRC, a truncated stream, an unknown compression method or an encrypted member
        raise UnreadableMember(member, f"unreadable in the zip ({e})") from e
    if len(data) > max_bytes:
        raise UnreadableMember(
            member,
            f"holds more than the {max_bytes:,} bytes allowed for one file "
            f"(its header says {zf.getinfo(member).file_size:,})",
        )
    return data


@dataclasses.dataclass(frozen=True)
class ListedFile:
    name: str
    size: int  # a zip member: as its header declares
    version: str  # what changes when the content does, cheaply: a member's CRC-32, a file's modification time


@dataclasses.dataclass(frozen=True)
class Source:
    """A zip file or a folder (prefix), at a location Beam's FileSystems can open."""

    location: str
    is_zip: bool
    shown_as: str = ""  # how errors name it: what the user gave (a URL, not the cache file it was downloaded to)

    @property
    def name(self) -> str:
        return self.shown_as or self.location

    @property
    def kind(self) -> str:
        return "zip" if self.is_zip else "folder"

    @property
    def is_local(self) -> bool:
        """On this machine's disk: a worker elsewhere cannot read it."""
        return "://" not in self.location

    def path_of(self, name: str) -> str:
        """Where one file is, for people: a member's name in a zip, the file's full path in a folder."""
        return name if self.is_zip else FileSystems.join(self.location, name)

    def list_files(self) -> "Listing":
        listed = self._list_zip() if self.is_zip else self._list_folder()
        if not listed:
            raise DatasetError(f"{self.name}: the {self.kind} holds no files")
        return Listing(self, listed)

    def _list_zip(self) -> list[ListedFile]:
        try:
            with open_binary(self.location) as f:
                if not zipfile.is_zipfile(f):
                    raise DatasetError(f"{self.name}: not a zip file")
                with zipfile.ZipFile(f) as zf:
                    infos = zf.infolist()
        except files.FileRefused as e:
            raise DatasetError(f"{self.name}: {e.reason}") from e
        except (zipfile.BadZipFile, OSError) as e:
            raise DatasetError(f"{self.name}: unreadable zip: {e}") from e
        return [
            ListedFile(i.filename, i.file_size, f"{i.CRC:08x}")
            for i in infos
            if not i.is_dir() and not is_litter(i.filename)
        ]

    def _list_folder(self) -> list[ListedFile]:
        root = self.location.rstrip("/")
        try:
            matched = _files_under(root)
        except Exception as e:  # noqa: BLE001 - each filesystem raises its own errors
            raise DatasetError(f"{self.name}: cannot list the folder: {e}") from e
        listed = []
        for m in matched:
            name = m.path[len(root) + 1 :]
            if name and not name.endswith("/") and not is_litter(name):  # "dir/": an object store's folder marker
                listed.append(ListedFile(name, m.size_in_bytes, repr(m.last_updated_in_seconds)))
        return sorted(listed, key=lambda f: f.name)

    def open(self) -> "Reader":
        return Reader(self)


@dataclasses.dataclass
class Listing:
    source: Source
    files: list[ListedFile]  # every file but litter, in the source's order (a zip's order decides its duplicates)

    def fingerprint(self) -> str:
        """Changes when a file is added, removed, renamed, or changes size or version; reads no image."""
        lines = "".join(f"{f.name}\t{f.size}\t{f.version}\n" for f in self.files)
        return hashlib.sha256(lines.encode("utf-8")).hexdigest()

    def usable(self) -> tuple[list[str], list[tuple[str, str]]]:
        """(names of the files to read, [(name, reason)] for those refused on their listing alone)."""
        last = {f.name: i for i, f in enumerate(self.files)}  # what ZipFile.read(name) returns: the last of a name
        names, refused = [], []
        for i, f in enumerate(self.files):
            if last[f.name] != i:
                refused.append((f.name, "duplicate name in the zip: a later entry with this name is used"))
            elif f.size > limits.MAX_FILE_BYTES:
                declares = "declares" if self.source.is_zip else "is"
                refused.append(
                    (
                        f.name,
                        f"{declares} {f.size:,} bytes{' uncompressed' if self.source.is_zip else ''}, "
                        f"more than the {limits.MAX_FILE_BYTES:,} allowed for one file",
                    )
                )
            else:
                names.append(f.name)
        if not names:
            raise DatasetError(
                f"{self.source.name}: the {self.source.kind} holds no usable file ({refused[0][0]}: {refused[0][1]})"
            )
        return names, refused


class Reader:
    """An opened source: read(name) gives a file's bytes, at most limits.MAX_FILE_BYTES of them, or raises
    UnreadableMember. Open one per worker (in a DoFn's setup()): a zip's handle does not pickle."""

    def __init__(self, source: Source):
        self._source = source
        self._file = open_binary(source.location) if source.is_zip else None
        self._zip = zipfile.ZipFile(self._file) if self._file else None

    def read(self, name: str, max_bytes: int = limits.MAX_FILE_BYTES) -> bytes:
        if self._zip is not None:
            return read_member(self._zip, name, max_bytes)
        path = self._source.path_of(name)
        try:
            with open_binary(path) as f:
                return files.read_capped(f, path, max_bytes)
        except files.FileRefused as e:  # a FIFO, a device, unreadable, too large
            raise UnreadableMember(name, e.reason) from e
        except Exception as e:  # noqa: BLE001 - each filesystem raises its own errors
            raise UnreadableMember(name, f"unreadable ({e})") from e

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()
            self._file.close()  # ZipFile leaves a file object it was given open

    def __enter__(self) -> "Reader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def resolve(
    data_uri: str,
    sha256: str = "",
    progress: bool = False,
    timeout_seconds: float = limits.DOWNLOAD_TIMEOUT_SECONDS,
) -> Source:
    """The source data_uri names: a zip (a path, file://, an object-store URI, or http(s)://, downloaded into
    the local cache and checked), a folder, or an object-store prefix. sha256, when given, is the zip's."""
    local = fetch.local_path(data_uri)
    scheme = urllib.parse.urlparse(data_uri).scheme
    if local is not None and os.path.isdir(local):
        source = Source(os.path.abspath(local), is_zip=False, shown_as=data_uri)
    elif local is not None or scheme in ("http", "https"):
        fetch.check_local_exists(data_uri)
        return Source(
            fetch.fetch(data_uri, sha256=sha256, progress=progress, timeout_seconds=timeout_seconds),
            is_zip=True,
            shown_as=data_uri,
        )
    else:
        source = _object_store_source(data_uri)
    if sha256:
        if not source.is_zip:
            raise DatasetError(f"{data_uri}: --sha256 checks a zip, and this is a folder")
        actual = fetch.sha256_of(source.location, open_file=open_binary)
        if actual != sha256.lower():
            raise DatasetError(f"{data_uri}: sha256 mismatch (expected {sha256}, got {actual})")
    return source


def _object_store_source(uri: str) -> Source:
    try:
        is_file = FileSystems.exists(uri.rstrip("/"))
    except ValueError as e:  # Beam knows no filesystem of this scheme
        raise DatasetError(
            f"{uri}: unsupported scheme {urllib.parse.urlparse(uri).scheme!r} (use http, https, file, gs, s3 or a path)"
        ) from e
    if is_file:
        return Source(uri, is_zip=True)
    source = Source(uri.rstrip("/"), is_zip=False, shown_as=uri)
    try:
        found = _files_under(source.location, limit=1)
    except Exception as e:  # noqa: BLE001 - each filesystem raises its own errors
        raise DatasetError(f"{uri}: cannot list it: {e}") from e
    if not found:
        raise DatasetError(f"{uri}: no such zip, folder or object-store prefix")
    return source


class ReadFiles(beam.DoFn):
    """(file name, anything) -> (anything, the file's bytes); a file that cannot be read goes to the SKIPPED
    output as (name, reason). Ingestion and batch scoring read their files through it."""

    SKIPPED = "skipped"

    def __init__(self, source: Source):
        self._source = source
        self._reader = None

    def setup(self):
        self._reader = self._source.open()  # in each worker: an open zip does not pickle

    def teardown(self):
        if self._reader is not None:
            self._reader.close()

    def process(self, element: tuple[str, Any]):
        name, value = element
        try:
            yield value, self._reader.read(name)
        except UnreadableMember as e:
            yield beam.pvalue.TaggedOutput(self.SKIPPED, (name, e.reason))
