"""A local run's progress, one line as each component starts and ends, from what TFX's LocalDagRunner logs
(absl, INFO): `Component %s is running.` / `is finished.` (tfx/orchestration/local/local_dag_runner.py), and
between them its launcher's `Going to run a new execution %d` or `A cached execution %d is used.`
(tfx/orchestration/portable/launcher.py). LocalDagRunner offers no other hook: it builds each node's Launcher
itself. The messages are matched by template and file, not by their formatted text."""

import contextlib
import dataclasses
import logging
import os
import time
from collections.abc import Callable, Iterator

from absl import logging as absl_logging

_RUNNER = os.path.join("tfx", "orchestration", "local", "local_dag_runner.py")
_LAUNCHER = os.path.join("tfx", "orchestration", "portable", "launcher.py")
_RUNNING, _FINISHED = "Component %s is running.", "Component %s is finished."
_NEW_EXECUTION, _CACHED = "Going to run a new execution %d", "A cached execution %d is used."


@dataclasses.dataclass
class StageTime:
    name: str
    seconds: float
    cached: bool = False


class ComponentProgress(logging.Handler):
    """Prints `[3/10] Transform ...` when a component executes, `[3/10] Transform: done in 12.3 s` when it ends,
    one `[3/10] Transform: cached ...` line when an earlier run's outputs stand in; keeps each stage's time."""

    def __init__(self, node_count: int, out: Callable[[str], None]):
        super().__init__(logging.INFO)
        self.stages: list[StageTime] = []
        self._node_count = node_count
        self._out = out
        self._node: str | None = None
        self._started = 0.0
        self._cached = False

    def _line(self, text: str) -> None:
        self._out(f"[{len(self.stages) + 1}/{self._node_count}] {self._node}{text}")

    def emit(self, record: logging.LogRecord) -> None:
        path, template = os.path.normpath(record.pathname), record.msg
        if path.endswith(_RUNNER) and template == _RUNNING:
            self._node, self._started, self._cached = record.args[0], time.monotonic(), False
        elif self._node is None:
            return
        elif path.endswith(_LAUNCHER) and template == _NEW_EXECUTION:
            self._line(" ...")
        elif path.endswith(_LAUNCHER) and template == _CACHED:
            self._cached = True
            self._line(": cached, an earlier run's outputs (--no-cache recomputes)")
        elif path.endswith(_RUNNER) and template == _FINISHED:
            seconds = time.monotonic() - self._started
            if not self._cached:
                self._line(f": done in {seconds:.1f} s")
            self.stages.append(StageTime(self._node, seconds, self._cached))
            self._node = None


class _WarningsOn(logging.Handler):
    """Hands the records at WARNING and above to the root logger's handlers: the INFO records the progress
    lines read go no further."""

    def __init__(self):
        super().__init__(logging.WARNING)

    def emit(self, record: logging.LogRecord) -> None:
        logging.getLogger().handle(record)


@contextlib.contextmanager
def reported(
    node_count: int, out: Callable[[str], None] = lambda line: print(line, flush=True)
) -> Iterator[list[StageTime]]:
    """Around LocalDagRunner().run(...): prints each component's progress; yields the stages' times, filled
    as they finish. Under --verbose (the root logger at INFO) TFX's own lines print too."""
    absl_logger = absl_logging.get_absl_logger()
    progress = ComponentProgress(node_count, out)
    saved = absl_logging.get_verbosity(), absl_logger.propagate
    quiet = logging.getLogger().getEffectiveLevel() > logging.INFO
    extra = [_WarningsOn()] if quiet else []
    # absl's verbosity, not only its logger's level: TensorFlow saves and restores the verbosity around each
    # SavedModel export (autotrackable), which would put a level set on the logger back to WARNING.
    absl_logging.set_verbosity(absl_logging.INFO)
    absl_logger.propagate = not quiet
    for handler in [progress, *extra]:
        absl_logger.addHandler(handler)
    try:
        yield progress.stages
    finally:
        for handler in [progress, *extra]:
            absl_logger.removeHandler(handler)
        absl_logging.set_verbosity(saved[0])
        absl_logger.propagate = saved[1]
