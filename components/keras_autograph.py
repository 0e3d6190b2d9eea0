"""Keras' own code traced as written, not rewritten by AutoGraph: the rule TensorFlow's later releases carry.

AutoGraph leaves the packages on its DoNotConvert list as they are. TensorFlow 2.16's list names `keras` but not
`tf_keras`, the name Keras 2 has had since Keras 3 (TF_USE_LEGACY_KERAS, which TFT sets). So a process's first
trace of a Keras function (fit's train step, a save's signatures) rewrote some 125 of Keras' own functions from
their source: 12 s of the Trainer's first epoch on 2 cores, 0.8 s with the rule. Keras 2's code runs unconverted
by design (it sat under the `keras` rule for years), and TensorFlow's own list names `tf_keras` on its main branch
(tensorflow/python/autograph/core/config.py); this adds that rule to 2.16's.
"""

from tensorflow.python.autograph.core import config  # private: pinned with tensorflow==2.16.2

KERAS_PACKAGE = "tf_keras"


def leave_keras_unconverted() -> None:
    """Adds DoNotConvert("tf_keras") to AutoGraph's rules unless one is there; AutoGraph reads them at each call."""
    rules = config.CONVERSION_RULES
    if not any(isinstance(rule, config.DoNotConvert) and rule.matches(KERAS_PACKAGE) for rule in rules):
        config.CONVERSION_RULES = (*rules, config.DoNotConvert(KERAS_PACKAGE))
