"""The paths a request takes, whichever transport brought it (gRPC or REST), in TF Serving's order: the
model looked up first, then the signature, then the inputs decoded and checked, then the model run
(batched if enabled). Predict, and Classify, Regress and MultiInference on tf.Examples
(servables/tensorflow/predict_util.cc, classifier.cc, regressor.cc, multi_inference.cc)."""

import dataclasses
import functools
import time
from collections.abc import Callable, Mapping, Sequence

import grpc
import numpy as np
import tensorflow as tf
from tensorflow.core.protobuf import meta_graph_pb2
from tensorflow_serving.apis import classification_pb2, inference_pb2, input_pb2, regression_pb2

from components import limits
from serving.server.batching import BatchScheduler
from serving.server.metrics import ServingMetrics
from serving.server.model_config import ServedModels
from serving.server.model_registry import ModelRegistry
from serving.status import ServingError

DEFAULT_SIGNATURE = tf.saved_model.DEFAULT_SERVING_SIGNATURE_DEF_KEY  # what an empty signature_name means
CLASSIFY_METHOD = tf.saved_model.CLASSIFY_METHOD_NAME
REGRESS_METHOD = tf.saved_model.REGRESS_METHOD_NAME

# Turns the transport's request body into input tensors; gets the signature's SignatureDef (None if
# the model has no such signature), since JSON values take their dtype from it.
InputDecoder = Callable[[meta_graph_pb2.SignatureDef | None], Mapping[str, tf.Tensor]]


def _invalid(message: str) -> ServingError:
    return ServingError(grpc.StatusCode.INVALID_ARGUMENT, message)


@dataclasses.dataclass(frozen=True)
class ModelRequest:
    """What a request's ModelSpec (or REST path and body) asks for."""

    model_name: str
    version: int | None = None
    version_label: str = ""
    signature_name: str = ""

    @property
    def signature(self) -> str:
        return self.signature_name or DEFAULT_SIGNATURE


@dataclasses.dataclass(frozen=True)
class PredictCall:
    model_name: str
    decode_inputs: InputDecoder
    version: int | None = None
    version_label: str = ""
    signature_name: str = ""
    output_filter: Sequence[str] = ()


@dataclasses.dataclass(frozen=True)
class PredictResult:
    version: int
    signature_name: str
    outputs: dict[str, np.ndarray]


@dataclasses.dataclass(frozen=True)
class ResultOf:
    version: int
    result: object  # a ClassificationResult or RegressionResult


class Predictor:
    """models is a ServedModels, or one ModelRegistry. metrics is recorded by the transports (each counts
    what TF Serving's own transport counts)."""

    def __init__(
        self,
        models,
        batching: BatchScheduler | None = None,
        metrics: ServingMetrics | None = None,
        max_images_per_request: int = limits.MAX_IMAGES_PER_REQUEST,
    ):
        self.models = ServedModels.of(models) if isinstance(models, ModelRegistry) else models
        self.batching = batching
        self.metrics = metrics
        self.max_images_per_request = max_images_per_request

    def timed(self, model_name: str, api: str, entrypoint: str, work: Callable):
        """work() counted and timed in the metrics as TF Serving's transports do."""
        start = time.perf_counter()
        status = "OK"
        try:
            return work()
        except ServingError as e:
            status = e.code.name
            raise
        except Exception:
            status = "UNKNOWN"
            raise
        finally:
            if self.metrics is not None:
                self.metrics.record_request(model_name, status, api, entrypoint, time.perf_counter() - start)

    def predict(self, call: PredictCall) -> PredictResult:
        version, servable = self.models.servable(call.model_name, call.version, call.version_label)
        signature = call.signature_name or DEFAULT_SIGNATURE
        inputs = call.decode_inputs(servable.signature_defs.get(signature))
        wanted = servable.check_request(signature, inputs, call.output_filter, self.max_images_per_request)
        run = functools.partial(servable.call, signature)
        size = _batch_size(inputs)
        if self.batching is not None and size is not None:
            # The servable object, not just the version number: a reloaded version is a new model. The
            # rows' own shape too: only tensors of one shape beyond the batch dimension concatenate.
            shapes = tuple((key, tuple(tensor.shape[1:])) for key, tensor in sorted(inputs.items()))
            outputs = self.batching.run((id(servable), signature, shapes), run, inputs, size)
        else:
            outputs = run(inputs)
        return PredictResult(version, signature, {key: outputs[key] for key in wanted})

    # --- Classify and Regress: serialized tf.Examples in (servables/tensorflow/util.cc) ---

    def _examples(self, model_input: input_pb2.Input) -> tf.Tensor:
        """InputToSerializedExampleTensor: one string per example, the context's bytes before each."""
        kind = model_input.WhichOneof("kind")
        if kind == "example_list":
            examples = model_input.example_list.examples
            context = b""
        elif kind == "example_list_with_context":
            examples = model_input.example_list_with_context.examples
            context = model_input.example_list_with_context.context.SerializeToString()
        else:
            examples, context = [], b""
        if not examples:
            raise _invalid("Input is empty.")
        if len(examples) > self.max_images_per_request:
            raise _invalid(
                f"input has {len(examples)} examples, more than the {self.max_images_per_request} "
                "allowed in one request"
            )
        return tf.constant([context + example.SerializeToString() for example in examples], dtype=tf.string)

    def _signature_def(self, servable, signature: str) -> meta_graph_pb2.SignatureDef:
        signature_def = servable.signature_defs.get(signature)
        if signature_def is None:
            raise _invalid(f"No signature was found with the name: {signature}")
        return signature_def

    def classify(self, spec: ModelRequest, model_input: input_pb2.Input) -> ResultOf:
        version, servable = self.models.servable(spec.model_name, spec.version, spec.version_label)
        signature_def = self._signature_def(servable, spec.signature)
        input_key = _check_classification(signature_def)
        examples = self._examples(model_input)
        outputs = servable.call(spec.signature, {input_key: examples})
        return ResultOf(version, _classification_result(outputs, int(examples.shape[0])))

    def regress(self, spec: ModelRequest, model_input: input_pb2.Input) -> ResultOf:
        version, servable = self.models.servable(spec.model_name, spec.version, spec.version_label)
        signature_def = self._signature_def(servable, spec.signature)
        input_key = _check_regression(signature_def)
        examples = self._examples(model_input)
        outputs = servable.call(spec.signature, {input_key: examples})
        return ResultOf(version, _regression_result(outputs, int(examples.shape[0])))

    def multi_inference(self, request: inference_pb2.MultiInferenceRequest) -> inference_pb2.MultiInferenceResponse:
        """multi_inference.cc Infer: every task on one model, the input shared."""
        first = request.tasks[0].model_spec if request.tasks else None
        if first is None or not first.name:
            raise _invalid("ModelSpec has no name specified.")
        version, servable = self.models.servable(first.name, *_version_of(first))
        signatures = set()
        for task in request.tasks:
            if not task.model_spec.name:
                raise _invalid("Found ModelSpec with an empty model name.")
            if task.model_spec.name != first.name:
                raise _invalid("All ModelSpecs in a MultiInferenceRequest must access the same model name.")
            signature = task.model_spec.signature_name or DEFAULT_SIGNATURE
            if signature in signatures:
                raise _invalid(f"Duplicate evaluation of signature: {signature}")
            signatures.add(signature)
            signature_def = servable.signature_defs.get(signature)
            if signature_def is None:
                raise _invalid(f"Requested signature not found in model graph: {signature}")
            if task.method_name == CLASSIFY_METHOD:
                _check_classification(signature_def)
            elif task.method_name == REGRESS_METHOD:
                _check_regression(signature_def)
            else:
                raise ServingError(
                    grpc.StatusCode.UNIMPLEMENTED, f"Unsupported signature method_name: {task.method_name}"
                )
        examples = self._examples(request.input)
        response = inference_pb2.MultiInferenceResponse()
        for task in request.tasks:
            signature = task.model_spec.signature_name or DEFAULT_SIGNATURE
            signature_def = servable.signature_defs[signature]
            result = response.results.add()
            if task.method_name == CLASSIFY_METHOD:
                input_key = _check_classification(signature_def)
                outputs = servable.call(signature, {input_key: examples})
                result.classification_result.CopyFrom(_classification_result(outputs, int(examples.shape[0])))
            else:
                input_key = _check_regression(signature_def)
                outputs = servable.call(signature, {input_key: examples})
                result.regression_result.CopyFrom(_regression_result(outputs, int(examples.shape[0])))
            result.model_spec.name = task.model_spec.name
            result.model_spec.signature_name = signature
            result.model_spec.version.value = version
        return response


def _version_of(model_spec) -> tuple:
    choice = model_spec.WhichOneof("version_choice")
    return (
        model_spec.version.value if choice == "version" else None,
        model_spec.version_label if choice == "version_label" else "",
    )


def _check_classification(signature_def: meta_graph_pb2.SignatureDef) -> str:
    """classifier.cc PreProcessClassification; the input's key."""
    if len(signature_def.inputs) != 1:
        raise _invalid("Expected one input Tensor.")
    if len(signature_def.outputs) not in (1, 2):
        raise _invalid(f"Expected one or two output Tensors, found {len(signature_def.outputs)}")
    if tf.saved_model.CLASSIFY_INPUTS not in signature_def.inputs:
        raise _invalid(f"No classification inputs found in SignatureDef: {signature_def}")
    if not {tf.saved_model.CLASSIFY_OUTPUT_CLASSES, tf.saved_model.CLASSIFY_OUTPUT_SCORES} & set(signature_def.outputs):
        raise _invalid(
            'Expected classification signature outputs to contain at least one of "classes" or "scores". '
            f"Signature was: {signature_def}"
        )
    return tf.saved_model.CLASSIFY_INPUTS


def _check_regression(signature_def: meta_graph_pb2.SignatureDef) -> str:
    """regressor.cc PreProcessRegression; the input's key."""
    if len(signature_def.inputs) != 1:
        raise _invalid("Expected one input Tensor.")
    if len(signature_def.outputs) != 1:
        raise _invalid("Expected one output Tensor.")
    if tf.saved_model.REGRESS_INPUTS not in signature_def.inputs:
        raise _invalid(f"No regression inputs found in SignatureDef: {signature_def}")
    if tf.saved_model.REGRESS_OUTPUTS not in signature_def.outputs:
        raise _invalid(f"No regression outputs found in SignatureDef: {signature_def}")
    return tf.saved_model.REGRESS_INPUTS


def _classification_result(outputs: Mapping[str, np.ndarray], examples: int) -> classification_pb2.ClassificationResult:
    """classifier.cc PostProcessClassificationResult."""
    classes = outputs.get(tf.saved_model.CLASSIFY_OUTPUT_CLASSES)
    scores = outputs.get(tf.saved_model.CLASSIFY_OUTPUT_SCORES)
    for name, tensor, kind in (("classes", classes, "O"), ("scores", scores, "f")):
        if tensor is None:
            continue
        if tensor.ndim != 2:
            raise _invalid(f"Expected Tensor shape: [batch_size num_classes] but got {list(tensor.shape)}")
        if tensor.dtype.kind != kind and not (kind == "O" and tensor.dtype.kind == "S"):
            raise _invalid(f"Expected {name} Tensor of {'DT_STRING' if kind == 'O' else 'DT_FLOAT'}")
        if tensor.shape[0] != examples:
            raise _invalid(f"Expected {name} output batch size of {examples}. Got: {tensor.shape[0]}")
    if classes is not None and scores is not None and classes.shape[1] != scores.shape[1]:
        raise _invalid(
            f"Tensors class and score should match in dim_size(1). Got {classes.shape[1]} vs. {scores.shape[1]}"
        )
    result = classification_pb2.ClassificationResult()
    count = (classes if classes is not None else scores).shape[1]
    for i in range(examples):
        classification = result.classifications.add()
        for c in range(count):
            entry = classification.classes.add()
            if classes is not None:
                entry.label = classes[i, c].decode("utf-8", "replace")
            if scores is not None:
                entry.score = float(scores[i, c])
    return result


def _regression_result(outputs: Mapping[str, np.ndarray], examples: int) -> regression_pb2.RegressionResult:
    """regressor.cc PostProcessRegressionResult."""
    values = outputs[tf.saved_model.REGRESS_OUTPUTS]
    if not (values.ndim == 1 or (values.ndim == 2 and values.shape[1] == 1)):
        raise _invalid(
            f"Expected output Tensor shape to be either [batch_size] or [batch_size, 1] but got {list(values.shape)}"
        )
    if values.shape[0] != examples:
        raise _invalid(f"Input batch size did not match output batch size: {examples} vs. {values.shape[0]}")
    if values.dtype != np.float32:
        raise _invalid(f"Expected output Tensor of DT_FLOAT.  Got: {values.dtype}")
    result = regression_pb2.RegressionResult()
    for value in values.reshape(-1):
        result.regressions.add(value=float(value))
    return result


def _batch_size(inputs: Mapping[str, tf.Tensor]) -> int | None:
    """The rows of a request whose inputs all share a first dimension; None if it cannot be batched."""
    sizes = {tensor.shape[0] if tensor.shape.rank else None for tensor in inputs.values()}
    return sizes.pop() if len(sizes) == 1 else None
