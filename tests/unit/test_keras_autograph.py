"""components/keras_autograph.py: AutoGraph leaves Keras 2's own code (tf_keras) as it is, as it does for `keras`."""

import subprocess
import sys

import tf_keras as keras
from tensorflow.python.autograph.core import config
from tensorflow.python.autograph.impl import conversion

from components import keras_autograph

_ALLOWLISTED_IN_A_FRESH_PROCESS = (
    "import tf_keras as keras\n"
    "from tensorflow.python.autograph.impl import conversion\n"
    "print(conversion.is_allowlisted(keras.layers.Dense.call))\n"
)


def test_tensorflow_2_16_converts_tf_keras_by_itself():
    """Why the rule is added: without it AutoGraph rewrites Keras' layers (a TensorFlow that lists tf_keras
    itself makes this fail, and the module can go)."""
    done = subprocess.run([sys.executable, "-c", _ALLOWLISTED_IN_A_FRESH_PROCESS], capture_output=True, text=True)
    assert done.stdout.strip().splitlines()[-1] == "False", done.stderr[-2000:]


def test_keras_functions_are_left_unconverted_and_the_rule_added_once():
    keras_autograph.leave_keras_unconverted()
    keras_autograph.leave_keras_unconverted()
    assert conversion.is_allowlisted(keras.layers.Dense.call)
    assert conversion.is_allowlisted(keras.Model.train_step)
    keras_rules = [r for r in config.CONVERSION_RULES if r.matches(keras_autograph.KERAS_PACKAGE)]
    assert len(keras_rules) == 1


def test_user_functions_are_still_converted():
    keras_autograph.leave_keras_unconverted()

    def user_code(x):
        return x

    assert not conversion.is_allowlisted(user_code)
