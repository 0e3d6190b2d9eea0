"""What the `catdog` commands print besides their own lines: by default, library notices that a user of this
project cannot act on are filtered where they come from (by warning category and module, by logger and the
file that logs); with --verbose everything shows. Errors are never filtered: a failing command still prints
its `catdog: error:` line or its traceback, and every warning not named here still shows."""

import logging
import os
import warnings

from absl import logging as absl_logging

# Python warnings raised inside libraries, about the libraries: (category, the module that warns).
_QUIET_WARNINGS = [
    # google-api-core, for each Google client package imported (15 a run): Python 3.10 is past its support.
    (FutureWarning, r"google\.api_core\._python_version_support"),
    # google-cloud-aiplatform (imported by kfp and TFX) about the google-cloud-storage version the stack pins.
    (FutureWarning, r"google\.cloud\.aiplatform"),
    # TFMA's confusion matrices at thresholds where a class has no prediction (0/0: the rate is NaN, as meant).
    (RuntimeWarning, r"tensorflow_model_analysis\.metrics"),
]

# Log records of libraries about their own internals: (logger, the file that logs, relative to site-packages,
# what the message template holds; "" for any).
_QUIET_RECORDS = [
    # TFX's input resolution on the local runner: ArtifactQuery/ContextQuery.property_predicate (14 a run).
    ("absl", "tfx/orchestration/portable/input_resolution/channel_resolver.py", "property_predicate is not supported"),
    # Transform explains why it analyzes the data: the image feature needs its analyzers' pass.
    ("absl", "tfx/components/transform/executor.py", "Not using the in-place Transform"),
    # TF's deprecation notices for calls made inside tfx_bsl and TFMA.
    ("tensorflow", "tensorflow/python/util/deprecation.py", ""),
    # Keras times its callbacks against the step: a head step on cached activations takes about 1 ms, and
    # TensorBoard's per-batch hook more (the epoch takes 0.3 s all the same).
    ("tensorflow", "tf_keras/src/callbacks.py", "is slow compared to the batch time"),
    # Loading the exported model for its layers (the Evaluator, the report): it is saved uncompiled, for serving.
    ("tensorflow", "tf_keras/src/saving/legacy/saved_model/load.py", "No training configuration found"),
    ("tensorflow", "tf_keras/src/saving/legacy/saving_utils.py", "the compiled metrics have yet to be built"),
]
# Loggers whose warnings are about speed-ups this stack does not ship (python-snappy for Beam's TFRecords).
_QUIET_LOGGERS = ["apache_beam.io.tfrecordio"]

# TensorFlow's C++ logs (read once, when TensorFlow loads): 3 keeps FATAL only. What TensorFlow prints at
# ERROR without failing is the CUDA plugins' registration on import ("Unable to register cuDNN factory",
# with or without a GPU); a real failure raises a Python exception, which prints. Warnings (TF-TRT not found,
# "Local rendezvous is aborting ... End of sequence" at every end of a dataset) are below that.
_QUIET_TF_CPP_MIN_LOG_LEVEL = "3"


class _DropRecords(logging.Filter):
    """Drops a logger's records logged from a given file with a given message template."""

    def __init__(self, path_and_message):
        super().__init__()
        self._dropped = [(os.path.normpath(path), message) for path, message in path_and_message]

    def filter(self, record: logging.LogRecord) -> bool:
        path, template = os.path.normpath(record.pathname), str(record.msg)
        return not any(path.endswith(suffix) and message in template for suffix, message in self._dropped)


def configure(verbose: bool) -> None:
    """Call before TensorFlow is imported. A TF_CPP_MIN_LOG_LEVEL set by the user is kept either way."""
    if verbose:
        # Everything: TensorFlow's C++ logs at its default (INFO), every library's INFO records.
        logging.basicConfig(level=logging.INFO)
        logging.getLogger().setLevel(logging.INFO)
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", _QUIET_TF_CPP_MIN_LOG_LEVEL)
    for category, module in _QUIET_WARNINGS:
        warnings.filterwarnings("ignore", category=category, module=module)
    absl_logging.get_absl_logger()  # absl's own logger class, which records the calling file, not absl's
    by_logger = {}
    for logger, path, message in _QUIET_RECORDS:
        by_logger.setdefault(logger, []).append((path, message))
    for logger, dropped in by_logger.items():
        logging.getLogger(logger).addFilter(_DropRecords(dropped))
    for logger in _QUIET_LOGGERS:
        logging.getLogger(logger).setLevel(logging.ERROR)
