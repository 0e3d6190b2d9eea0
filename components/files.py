"""The one way to open a file a user named or a dataset holds: regular files only, never a blocking open,
never more than a stated number of bytes read or copied.

A symlink is followed only to a regular file. A FIFO, a device, a socket or a folder is refused with the
reason before anything is read (opening a FIFO blocks until a writer comes; /dev/zero never ends), and so
is a file this user may not read. Callers turn the refusal into what their input calls for: a skipped file
with its reason (ingestion, scoring, inspection) or one `catdog: error:` line (a file named on the command
line). TF-free and Beam-free: the server, the clients and the pipeline all read through it."""

import os
import stat
from typing import BinaryIO

from components import limits
from components.errors import CatdogError

_CHUNK = 1 << 20
_KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


class FileRefused(CatdogError):
    """path cannot be read as a regular file of at most the allowed size; reason says why, for people."""

    def __init__(self, path: str, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


def _kind(mode: int) -> str:
    return next((kind for is_kind, kind in _KINDS if is_kind(mode)), "not a regular file")


def _refused(path: str, error: OSError) -> FileRefused:
    if isinstance(error, FileNotFoundError):
        return FileRefused(path, "no such file")
    if isinstance(error, PermissionError):
        return FileRefused(path, "unreadable: permission denied")
    return FileRefused(path, f"unreadable ({error.strerror or error})")


def _not_regular(path: str, mode: int) -> FileRefused:
    return FileRefused(path, f"not a regular file: it is {_kind(mode)}")


def check_regular(path: str) -> os.stat_result:
    """path's status (a symlink's target's) if it is a regular file; FileRefused otherwise. Opens nothing."""
    try:
        status = os.stat(path)
    except OSError as e:
        raise _refused(path, e) from e
    if not stat.S_ISREG(status.st_mode):
        raise _not_regular(path, status.st_mode)
    return status


def open_regular(path: str) -> BinaryIO:
    """path opened for binary reading, if it is a regular file (or a symlink to one); never blocks.

    Checked before opening (so no device is ever opened) and again on the open descriptor (so a file swapped
    for a FIFO in between is still refused): O_NONBLOCK lets that open of a FIFO return at once."""
    check_regular(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as e:
        raise _refused(path, e) from e
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise _not_regular(path, mode)
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def too_large(path: str, max_bytes: int) -> FileRefused:
    return FileRefused(path, f"holds more than the {max_bytes:,} bytes allowed for one file")


def read_capped(stream: BinaryIO, path: str, max_bytes: int = limits.MAX_FILE_BYTES) -> bytes:
    """All of an open stream, or FileRefused once it holds more than max_bytes (never more in memory)."""
    data = stream.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise too_large(path, max_bytes)
    return data


def read_bytes(path: str, max_bytes: int = limits.MAX_FILE_BYTES) -> bytes:
    """A regular file's bytes, at most max_bytes of them; FileRefused names the file and the problem."""
    try:
        with open_regular(path) as f:
            return read_capped(f, path, max_bytes)
    except OSError as e:  # a read error (EIO), after a successful open
        raise _refused(path, e) from e


def read_text(path: str, max_bytes: int = limits.MAX_FILE_BYTES) -> str:
    """read_bytes as UTF-8 text."""
    data = read_bytes(path, max_bytes)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise FileRefused(path, f"not UTF-8 text ({e})") from e


def copy_capped(source: BinaryIO, destination: BinaryIO, path: str, max_bytes: int = limits.MAX_FILE_BYTES) -> int:
    """Copies source to destination in chunks; FileRefused (naming path) before more than max_bytes is written.
    Returns the bytes copied."""
    copied = 0
    while True:
        block = source.read(min(_CHUNK, max_bytes + 1 - copied))
        if not block:
            return copied
        copied += len(block)
        if copied > max_bytes:
            raise too_large(path, max_bytes)
        destination.write(block)
