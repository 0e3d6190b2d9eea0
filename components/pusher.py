"""A Pusher whose new model versions appear whole: copied beside the serving folder, then renamed into it."""

import logging
import os
import shutil
import time
from typing import Any

from tfx import types
from tfx.components import Pusher
from tfx.components.pusher import executor as pusher_executor
from tfx.dsl.components.base import executor_spec
from tfx.dsl.io import fileio
from tfx.proto import pusher_pb2
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import io_utils, proto_utils

from components.errors import CatdogError
from components.names import plain_model_name

STAGING_PREFIX = ".staging-"
# A staging folder in which nothing has changed for this long belongs to a push that died (a copy of a model
# rewrites files every few seconds at worst); the next push removes it.
STALE_STAGING_SECONDS = 10 * 60

log = logging.getLogger(__name__)


def _is_local(path: str) -> bool:
    return "://" not in path


def check_serving_model_dir(base: str) -> None:
    """The push destination must be <serving folder>/<plain model name>: a name like ../.. or one with a
    separator would push outside the serving folder."""
    plain_model_name(os.path.basename(base.rstrip("/")))
    if _is_local(base) and os.path.normpath(base) != base.rstrip("/"):
        raise CatdogError(f"push destination {base} is not a plain path (it has '..', '.' or '//' in it)")


def _last_change(path: str) -> float:
    newest = os.lstat(path).st_mtime
    for folder, dirs, files in os.walk(path):
        for name in dirs + files:
            newest = max(newest, os.lstat(os.path.join(folder, name)).st_mtime)
    return newest


def remove_stale_staging(base: str, now: float) -> list[str]:
    """Removes the staging folders of pushes that died mid-copy; returns their paths."""
    removed = []
    for entry in os.scandir(base) if os.path.isdir(base) else []:
        if entry.name.startswith(STAGING_PREFIX) and now - _last_change(entry.path) > STALE_STAGING_SECONDS:
            shutil.rmtree(entry.path, ignore_errors=True)
            log.warning("removed %s, left by a push that did not finish", entry.path)
            removed.append(entry.path)
    return removed


class AtomicPushExecutor(pusher_executor.Executor):
    """On a local filesystem a version folder is renamed into place once complete, so a server that
    watches the folder never sees half a model. Object stores have no directory rename: there the
    stock executor runs (it copies saved_model.pb last, which TF Serving waits for)."""

    def Do(
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ) -> None:
        destination = pusher_pb2.PushDestination()
        proto_utils.json_to_proto(exec_properties[standard_component_specs.PUSH_DESTINATION_KEY], destination)
        base = destination.filesystem.base_directory
        check_serving_model_dir(base)
        if not _is_local(base):
            return super().Do(input_dict, output_dict, exec_properties)

        self._log_startup(input_dict, output_dict, exec_properties)
        model_push = artifact_utils.get_single_instance(output_dict[standard_component_specs.PUSHED_MODEL_KEY])
        if not self.CheckBlessing(input_dict):
            self._MarkNotPushed(model_push)
            return
        model_path = self.GetModelPath(input_dict)
        remove_stale_staging(base, time.time())
        version = int(time.time())
        while fileio.exists(os.path.join(base, str(version))):  # two pushes in one second
            version += 1
        serving_path = os.path.join(base, str(version))
        # A name TF Serving ignores (not a number), on the same filesystem so the rename is atomic.
        staging = os.path.join(base, f"{STAGING_PREFIX}{version}-{os.getpid()}")
        io_utils.copy_dir(model_path, staging)
        os.rename(staging, serving_path)
        io_utils.copy_dir(model_path, model_push.uri)
        self._MarkPushed(model_push, pushed_destination=serving_path, pushed_version=str(version))


class AtomicPusher(Pusher):
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(AtomicPushExecutor)

    def __init__(self, *args, push_destination=None, **kwargs):
        # Checked when the pipeline is built too, not only after training: a bad name fails in seconds.
        if isinstance(push_destination, pusher_pb2.PushDestination):
            check_serving_model_dir(push_destination.filesystem.base_directory)
        super().__init__(*args, push_destination=push_destination, **kwargs)
