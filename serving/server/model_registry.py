"""The versions of one model under a TF Serving base path: which to load, which serve a request, and
what state each is in. A watcher thread polls the folder, so pushed versions load without a restart."""

import dataclasses
import enum
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Mapping

import grpc

from serving.server.servable import SAVED_MODEL_FILE, Servable
from serving.status import ServingError

log = logging.getLogger(__name__)


class VersionState(enum.Enum):
    """The names match GetModelStatus' ModelVersionStatus.State."""

    LOADING = "LOADING"
    AVAILABLE = "AVAILABLE"
    END = "END"  # unloaded, or failed to load (then error is set)


@dataclasses.dataclass(frozen=True)
class VersionStatus:
    version: int
    state: VersionState
    error: ServingError | None = None


MAX_VERSION = 2**63 - 1  # versions are int64 in every TF Serving message
_VERSION_NAME = re.compile(r"[0-9]{1,19}")  # ASCII digits only: str.isdigit() also takes '²' and '٣'


def parse_version(name: str) -> int | None:
    """The version a folder name stands for, or None if it is not one TF Serving would load."""
    if not _VERSION_NAME.fullmatch(name) or int(name) > MAX_VERSION:
        return None
    return int(name)


def ready_versions(base_path: str, reported: set[str] | None = None) -> list[int]:
    """Numbered folders holding a saved_model.pb, newest first. Other names are ignored, as TF Serving
    ignores them; visible ones are logged once per name when reported (the names already logged) is given.
    Hidden names (the Pusher's .staging-* folders) are expected and not logged."""
    versions = []
    for entry in os.scandir(base_path):
        version = parse_version(entry.name)
        if version is None:
            if reported is not None and not entry.name.startswith(".") and entry.name not in reported:
                reported.add(entry.name)
                log.warning(
                    "ignoring %r in %s: not a version number (ASCII digits, at most %d)",
                    entry.name,
                    base_path,
                    MAX_VERSION,
                )
            continue
        if entry.is_dir() and os.path.exists(os.path.join(entry.path, SAVED_MODEL_FILE)):
            versions.append(version)
    return sorted(versions, reverse=True)


def folder_fingerprint(path: str) -> tuple:
    """What changes when anything in a version folder is added, removed or rewritten."""
    seen = []
    for folder, dirs, files in os.walk(path):
        dirs.sort()
        for name in dirs + sorted(files):
            try:
                stat = os.stat(os.path.join(folder, name))
            except OSError:  # removed while we looked: the next look sees it
                continue
            seen.append((os.path.relpath(os.path.join(folder, name), path), stat.st_size, stat.st_mtime_ns))
    return tuple(seen)


@dataclasses.dataclass
class _FailedLoad:
    attempts: int
    retry_at: float  # time.monotonic()
    fingerprint: tuple


def resolve_model_dir(path: str) -> str:
    """A SavedModel folder itself, or the newest ready version inside a base path (what `catdog run` pushes to)."""
    if os.path.isfile(os.path.join(path, SAVED_MODEL_FILE)):
        return path
    if not os.path.isdir(path):
        raise ServingError(grpc.StatusCode.NOT_FOUND, f"{path}: no such model folder")
    versions = ready_versions(path)
    if not versions:
        raise ServingError(
            grpc.StatusCode.NOT_FOUND, f"{path}: no {SAVED_MODEL_FILE} and no numbered model versions inside"
        )
    return os.path.join(path, str(versions[0]))


class ModelRegistry:
    """Serves the newest num_versions loadable versions (TF Serving's `latest` policy), or every one
    (all_versions: `all`), or those listed (specific_versions: `specific`), plus any version a label names.

    A version that fails to load is skipped by the policy, so the previous one keeps serving; it is tried
    again as soon as its folder changes (a copy in two steps: saved_model.pb, then variables/) and otherwise
    after a backoff that doubles from retry_backoff[0] to retry_backoff[1] seconds. New versions load before
    old ones unload, and an unloaded version's object stays alive for requests already holding it, so a
    rollover fails no request."""

    def __init__(
        self,
        model_name: str,
        base_path: str,
        num_versions: int = 1,
        labels: Mapping[str, int] | None = None,
        load: Callable[[str], Servable] = Servable,
        retry_backoff: tuple[float, float] = (5.0, 300.0),
        all_versions: bool = False,
        specific_versions: set[int] | None = None,
    ):
        if num_versions < 1:
            raise ValueError(f"num_versions must be at least 1, got {num_versions}")
        self.model_name = model_name
        self.base_path = base_path
        self.num_versions = num_versions
        self.all_versions = all_versions
        self.specific_versions = set(specific_versions) if specific_versions is not None else None
        self.labels = dict(labels or {})
        self._load = load  # how a version folder becomes a Servable; tests pass a stand-in
        self._lock = threading.Lock()  # guards _loaded and _states, held only briefly
        self._poll_lock = threading.Lock()  # one poll at a time: loads are slow and must not double up
        self._retry_backoff = retry_backoff
        self._loaded: dict[int, Servable] = {}
        self._states: dict[int, VersionStatus] = {}
        self._failed: dict[int, _FailedLoad] = {}  # only the poll thread touches it
        self._reported_names: set[str] = set()
        self._reported_empty = False  # "no versions" is said once, until a version appears
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None
        self.poll_seconds = 2.0  # start() sets how often it looks

    # --- what requests see ---

    def servable(self, model_name: str, version: int | None = None, label: str = "") -> tuple[int, Servable]:
        """The (version, Servable) a request names; TF Serving's errors for names it cannot resolve."""
        if label:
            if model_name != self.model_name or label not in self.labels:
                raise ServingError(grpc.StatusCode.INVALID_ARGUMENT, f"Unrecognized servable version label: {label}")
            version = self.labels[label]
        with self._lock:
            if model_name == self.model_name:
                if version is None and self._loaded:
                    version = max(self._loaded)
                if version in self._loaded:
                    return version, self._loaded[version]
        wanted = f"Latest({model_name})" if version is None else f"Specific({model_name}, {version})"
        raise ServingError(grpc.StatusCode.NOT_FOUND, f"Servable not found for request: {wanted}")

    def statuses(self, model_name: str, version: int | None = None) -> list[VersionStatus]:
        """Every version seen since start, newest first; or just the one asked for."""
        with self._lock:
            states = dict(self._states) if model_name == self.model_name else {}
        if version is not None:
            if version not in states:
                raise ServingError(grpc.StatusCode.NOT_FOUND, f"Could not find version {version} of model {model_name}")
            return [states[version]]
        if not states:
            raise ServingError(grpc.StatusCode.NOT_FOUND, f"Could not find any versions of model {model_name}")
        return [states[v] for v in sorted(states, reverse=True)]

    # --- keeping the loaded set in line with the folder ---

    def poll(self) -> None:
        """One look at the base path: loads newly wanted versions, then unloads the rest."""
        with self._poll_lock:
            self._poll()

    def _poll(self) -> None:
        ready = ready_versions(self.base_path, self._reported_names)
        if not ready and not self._reported_empty:
            # TF Serving's words for it, and what a version looks like: it keeps watching, as TF Serving does.
            log.warning(
                "No versions of servable %s found under base path %s; watching it for one (a numbered "
                "folder holding saved_model.pb, e.g. %s, as `catdog run` pushes)",
                self.model_name,
                self.base_path,
                os.path.join(self.base_path, "1", SAVED_MODEL_FILE),
            )
        self._reported_empty = not ready
        self._failed = {v: f for v, f in self._failed.items() if v in ready}  # a removed version is forgotten
        held_back = self._held_back()
        # One load at a time, then look again: a version that fails makes an older one wanted instead.
        while True:
            missing = self._wanted(ready, held_back) - set(self._loaded)
            if not missing:
                break
            version = max(missing)  # newest first: it serves soonest
            if not self._load_version(version):
                held_back.add(version)  # one attempt per poll
        wanted = self._wanted(ready, held_back)
        with self._lock:
            for version in set(self._loaded) - wanted:
                del self._loaded[version]
                self._states[version] = VersionStatus(version, VersionState.END)
                log.info("unloaded %s version %d", self.model_name, version)

    def _held_back(self) -> set[int]:
        """Versions that failed to load and are not due for another try: same folder, backoff not over."""
        now = time.monotonic()
        return {
            version
            for version, failure in self._failed.items()
            if now < failure.retry_at
            and folder_fingerprint(os.path.join(self.base_path, str(version))) == failure.fingerprint
        }

    def _wanted(self, ready: list[int], held_back: set[int]) -> set[int]:
        loadable = [v for v in ready if v not in held_back]
        if self.all_versions:
            chosen = set(loadable)
        elif self.specific_versions is not None:
            chosen = self.specific_versions & set(loadable)
        else:
            chosen = set(loadable[: self.num_versions])
        return chosen | (set(self.labels.values()) & set(loadable))

    def version_path(self, version: int) -> str:
        return os.path.join(self.base_path, str(version))

    def _load_version(self, version: int) -> bool:
        """True if the version loaded."""
        path = self.version_path(version)
        with self._lock:
            self._states[version] = VersionStatus(version, VersionState.LOADING)
        log.info("loading %s version %d from %s", self.model_name, version, path)
        fingerprint = folder_fingerprint(path)  # before the load: a change during it means try again
        try:
            servable = self._load(path)
        except Exception as e:  # noqa: BLE001 - whatever breaks a load, the versions already loaded serve on
            error = e if isinstance(e, ServingError) else ServingError(grpc.StatusCode.UNKNOWN, repr(e))
            attempts = self._failed[version].attempts + 1 if version in self._failed else 1
            first, longest = self._retry_backoff
            wait = min(longest, first * 2 ** (attempts - 1))
            self._failed[version] = _FailedLoad(attempts, time.monotonic() + wait, fingerprint)
            with self._lock:
                self._states[version] = VersionStatus(version, VersionState.END, error)
            log.error(
                "%s version %d failed to load (attempt %d), the loaded versions serve on; trying again "
                "when its folder changes or in %.0f s: %s",
                self.model_name,
                version,
                attempts,
                wait,
                error,
            )
            return False
        self._failed.pop(version, None)
        with self._lock:
            self._loaded[version] = servable
            self._states[version] = VersionStatus(version, VersionState.AVAILABLE)
        log.info("%s version %d is available", self.model_name, version)
        return True

    def start(self, poll_seconds: float) -> None:
        """Loads what is there now, then keeps polling in the background until stop()."""
        if not os.path.isdir(self.base_path):
            raise FileNotFoundError(f"model base path {self.base_path} is not a directory")
        self.poll_seconds = poll_seconds
        self.poll()
        self._watcher = threading.Thread(target=self._watch, args=(poll_seconds,), name="model-watcher", daemon=True)
        self._watcher.start()

    def _watch(self, poll_seconds: float) -> None:
        while not self._stop.wait(poll_seconds):
            try:
                self.poll()
            except OSError as e:  # e.g. the volume briefly unmounted: keep serving what is loaded
                log.warning("cannot read %s: %s", self.base_path, e)
            except Exception:  # noqa: BLE001 - a watcher that dies never loads a version again
                log.exception("looking for new versions in %s failed; serving on and looking again", self.base_path)

    def stop(self) -> None:
        self._stop.set()
        if self._watcher is not None:
            self._watcher.join()
