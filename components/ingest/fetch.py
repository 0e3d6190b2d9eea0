"""Brings a dataset zip to a local file: http(s) downloads are cached by URL, local files are used in place."""

import hashlib
import os
import shutil
import tempfile
import urllib.parse
import urllib.request

from components.ingest.errors import DatasetError

_CHUNK = 1 << 20


CACHE_DIR_ENV = "CATDOG_CACHE_DIR"


def default_cache_dir() -> str:
    return os.environ.get(CACHE_DIR_ENV) or os.path.join(os.path.expanduser("~"), ".cache", "catdog")


def sha256_of(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _check_sha256(path: str, expected: str, source: str) -> None:
    if expected and sha256_of(path) != expected.lower():
        raise DatasetError(f"{source}: sha256 mismatch (expected {expected}, got {sha256_of(path)})")


def _download(url: str, dest: str, progress: bool) -> None:
    """Downloads to a temporary file beside dest, then renames: a broken download never poses as a cached one."""
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(dest), prefix=".download-")
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=60) as response:
            total = int(response.headers.get("Content-Length") or 0) or None
            bar = None
            if progress:
                from tqdm import tqdm

                bar = tqdm(total=total, unit="B", unit_scale=True, desc=os.path.basename(dest))
            for block in iter(lambda: response.read(_CHUNK), b""):
                out.write(block)
                if bar:
                    bar.update(len(block))
            if bar:
                bar.close()
        os.replace(tmp, dest)
    except OSError as e:  # URLError and HTTPError are OSErrors
        raise DatasetError(f"{url}: download failed: {e}") from e
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def fetch(data_uri: str, cache_dir: str = "", sha256: str = "", progress: bool = False) -> str:
    """Returns a local path to the zip named by data_uri (http://, https://, file:// or a path)."""
    parsed = urllib.parse.urlparse(data_uri)
    if parsed.scheme in ("http", "https"):
        name = os.path.basename(parsed.path) or "dataset.zip"
        key = hashlib.sha256(data_uri.encode()).hexdigest()[:16]
        local = os.path.join(cache_dir or default_cache_dir(), key, name)
        if os.path.exists(local) and sha256 and sha256_of(local) != sha256.lower():
            os.remove(local)  # a stale or corrupt cache entry: fetch it again
        if not os.path.exists(local):
            _download(data_uri, local, progress)
    elif parsed.scheme == "file":
        local = urllib.request.url2pathname(parsed.path)
    elif parsed.scheme in ("", ) or len(parsed.scheme) == 1:  # a plain path (or a Windows drive letter)
        local = data_uri
    elif parsed.scheme in ("gs", "s3", "hdfs"):
        local = _copy_from_filesystem(data_uri, cache_dir)
    else:
        raise DatasetError(f"{data_uri}: unsupported scheme {parsed.scheme!r} (use http, https, file, gs or a path)")
    if not os.path.isfile(local):
        raise DatasetError(f"{data_uri}: no such file")
    _check_sha256(local, sha256, data_uri)
    return local


def _copy_from_filesystem(uri: str, cache_dir: str) -> str:
    """Object-store URIs (on Kubeflow) are copied through tf.io.gfile, which knows gs:// and s3://."""
    import tensorflow as tf

    key = hashlib.sha256(uri.encode()).hexdigest()[:16]
    local = os.path.join(cache_dir or default_cache_dir(), key, os.path.basename(uri) or "dataset.zip")
    if not os.path.exists(local):
        if not tf.io.gfile.exists(uri):
            raise DatasetError(f"{uri}: no such file")
        os.makedirs(os.path.dirname(local), exist_ok=True)
        tmp = local + ".part"
        with tf.io.gfile.GFile(uri, "rb") as src, open(tmp, "wb") as dst:
            shutil.copyfileobj(src, dst, _CHUNK)
        os.replace(tmp, local)
    return local
