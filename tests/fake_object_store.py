"""fakestore://bucket/key: a folder on the local disk that Beam's FileSystems sees as an object store (no
folders, only keys under a prefix, listed in one call), to exercise the object-store path without a cloud.
Registered in this process only: Beam finds a filesystem by its scheme among FileSystem's subclasses."""

import os

from apache_beam.io.filesystem import FileMetadata
from apache_beam.io.localfilesystem import LocalFileSystem

SCHEME = "fakestore"
PREFIX = f"{SCHEME}://"


class FakeObjectStore(LocalFileSystem):
    root = ""  # the local folder holding the buckets; set by the test

    @classmethod
    def scheme(cls):
        return SCHEME

    @classmethod
    def _local(cls, uri: str) -> str:
        return os.path.join(cls.root, uri[len(PREFIX) :])

    def join(self, base, *paths):
        return "/".join([base.rstrip("/"), *paths])

    def has_dirs(self):
        return False

    def exists(self, uri):
        return os.path.isfile(self._local(uri))  # an object, never a "folder"

    def _list(self, prefix):
        for folder, _, names in os.walk(self.root):
            for name in names:
                local = os.path.join(folder, name)
                uri = PREFIX + os.path.relpath(local, self.root)
                if uri.startswith(prefix):
                    yield FileMetadata(uri, os.path.getsize(local), os.path.getmtime(local))

    def _path_open(self, uri, mode, mime_type="application/octet-stream", compression_type=None):
        return super()._path_open(self._local(uri), mode, mime_type, compression_type)
