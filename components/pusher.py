"""A Pusher whose new model versions appear whole: copied beside the serving folder, then renamed into it."""

import os
import time
from typing import Any, Dict, List

from tfx import types
from tfx.components.pusher import executor as pusher_executor
from tfx.dsl.components.base import executor_spec
from tfx.dsl.io import fileio
from tfx.proto import pusher_pb2
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import io_utils, proto_utils
from tfx.v1.components import Pusher


def _is_local(path: str) -> bool:
    return "://" not in path


class AtomicPushExecutor(pusher_executor.Executor):
    """On a local filesystem a version folder is renamed into place once complete, so a server that
    watches the folder never sees half a model. Object stores have no directory rename: there the
    stock executor runs (it copies saved_model.pb last, which TF Serving waits for)."""

    def Do(
        self,
        input_dict: Dict[str, List[types.Artifact]],
        output_dict: Dict[str, List[types.Artifact]],
        exec_properties: Dict[str, Any],
    ) -> None:
        destination = pusher_pb2.PushDestination()
        proto_utils.json_to_proto(exec_properties[standard_component_specs.PUSH_DESTINATION_KEY], destination)
        base = destination.filesystem.base_directory
        if not _is_local(base):
            return super().Do(input_dict, output_dict, exec_properties)

        self._log_startup(input_dict, output_dict, exec_properties)
        model_push = artifact_utils.get_single_instance(output_dict[standard_component_specs.PUSHED_MODEL_KEY])
        if not self.CheckBlessing(input_dict):
            self._MarkNotPushed(model_push)
            return
        model_path = self.GetModelPath(input_dict)
        version = int(time.time())
        while fileio.exists(os.path.join(base, str(version))):  # two pushes in one second
            version += 1
        serving_path = os.path.join(base, str(version))
        # A name TF Serving ignores (not a number), on the same filesystem so the rename is atomic.
        staging = os.path.join(base, f".staging-{version}-{os.getpid()}")
        io_utils.copy_dir(model_path, staging)
        os.rename(staging, serving_path)
        io_utils.copy_dir(model_path, model_push.uri)
        self._MarkPushed(model_push, pushed_destination=serving_path, pushed_version=str(version))


class AtomicPusher(Pusher):
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(AtomicPushExecutor)
