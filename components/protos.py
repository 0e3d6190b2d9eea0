"""TensorFlow's and TF Serving's generated protos without TensorFlow's runtime, for the clients and the
command line: tf.Example, TensorProto, PredictRequest/PredictResponse and the PredictionService stub need only
protobuf, but Python runs a package's __init__ before any module in it, and `tensorflow/__init__.py` loads all
of TensorFlow (10 s on an idle core, over a minute on a busy machine) where the messages take under a second.
So while these modules load, the `tensorflow` packages are bare namespaces of their folders (no __init__ run),
and they are dropped again afterwards: the loaded *_pb2 modules stay in sys.modules, and a later
`import tensorflow` runs TensorFlow's own __init__, which finds them there. With TensorFlow already imported,
its modules are simply imported."""

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys
import threading
from collections.abc import Iterable
from types import ModuleType

import numpy as np

_LOCK = threading.Lock()
_PROTO_MODULE_SUFFIX = "_pb2"


class _BareTensorflowPackages(importlib.abc.MetaPathFinder):
    """Finds `tensorflow` and its sub-packages as namespace packages of their folders; modules are left to
    the normal finders (the generated *_pb2 files import only protobuf and each other)."""

    def __init__(self, root: str):
        self._root = root

    def find_spec(self, name, path=None, target=None):
        if name != "tensorflow" and not name.startswith("tensorflow."):
            return None
        folder = os.path.join(self._root, *name.split(".")[1:])
        if not os.path.isdir(folder):
            return None
        spec = importlib.machinery.ModuleSpec(name, None, is_package=True)
        spec.submodule_search_locations = [folder]
        return spec


def _is_bare_package(name: str) -> bool:
    return (name == "tensorflow" or name.startswith("tensorflow.")) and not name.endswith(_PROTO_MODULE_SUFFIX)


def load(module_names: Iterable[str]) -> list[ModuleType]:
    """The named generated modules (e.g. "tensorflow_serving.apis.predict_pb2"), in order."""
    module_names = list(module_names)
    with _LOCK:
        if "tensorflow" in sys.modules or all(name in sys.modules for name in module_names):
            return [importlib.import_module(name) for name in module_names]
        root = os.path.dirname(importlib.util.find_spec("tensorflow").origin)
        finder = _BareTensorflowPackages(root)
        sys.meta_path.insert(0, finder)
        try:
            return [importlib.import_module(name) for name in module_names]
        finally:
            sys.meta_path.remove(finder)
            for name in [name for name in sys.modules if _is_bare_package(name)]:
                del sys.modules[name]


def serving_apis():
    """(predict_pb2, prediction_service_pb2_grpc) of tensorflow_serving.apis."""
    return tuple(load(["tensorflow_serving.apis.predict_pb2", "tensorflow_serving.apis.prediction_service_pb2_grpc"]))


def example_protos():
    """(example_pb2, feature_pb2) of tensorflow.core.example."""
    return tuple(load(["tensorflow.core.example.example_pb2", "tensorflow.core.example.feature_pb2"]))


# TensorProto's dtype enum (tensorflow/core/framework/types.proto) -> numpy, and the field its values go in.
_NUMPY_TYPES = {
    1: (np.float32, "float_val"),
    2: (np.float64, "double_val"),
    3: (np.int32, "int_val"),
    7: (object, "string_val"),
    9: (np.int64, "int64_val"),
    10: (np.bool_, "bool_val"),
}
DT_STRING = 7


def string_tensor(values: Iterable[bytes]):
    """A 1-D DT_STRING TensorProto, as tf.make_tensor_proto(values, dtype=tf.string) makes it."""
    (tensor_pb2,) = load(["tensorflow.core.framework.tensor_pb2"])
    values = list(values)
    tensor = tensor_pb2.TensorProto(dtype=DT_STRING, string_val=values)
    tensor.tensor_shape.dim.add().size = len(values)
    return tensor


def to_ndarray(tensor) -> np.ndarray:
    """A TensorProto's values, as tf.make_ndarray gives them, for the dtypes the exported signatures output."""
    if tensor.dtype not in _NUMPY_TYPES:
        raise ValueError(f"tensor dtype {tensor.dtype} is not one the model's signatures output")
    dtype, field = _NUMPY_TYPES[tensor.dtype]
    shape = [dim.size for dim in tensor.tensor_shape.dim]
    count = int(np.prod(shape))
    if tensor.tensor_content and dtype is not object:
        return np.frombuffer(tensor.tensor_content, dtype=dtype).reshape(shape)
    values = np.array(list(getattr(tensor, field)), dtype=dtype)
    if values.size == count:
        return values.reshape(shape)
    # TensorFlow writes one value for a tensor of copies of it (and none for zeros); make_ndarray repeats it.
    filler = values[-1] if values.size else dtype(0) if dtype is not object else b""
    return np.concatenate([values, np.full(count - values.size, filler, dtype=dtype)]).reshape(shape)
