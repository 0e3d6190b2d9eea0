"""The Evaluator's configuration: which metrics it computes and which gate a model must pass to be pushed."""

import tensorflow_model_analysis as tfma

from components import contract

GATED_METRIC = "BinaryAccuracy"
GATED_METRIC_KEY = "binary_accuracy"  # the name TFMA stores its value under


def eval_config(min_accuracy: float, max_regression: float) -> tfma.EvalConfig:
    """Accuracy on the eval split must reach min_accuracy and may fall at most max_regression (absolute)
    below the latest blessed model's: two retrains of one recipe differ by about a point on 1,000 images,
    so a zero tolerance would refuse an equally good model about half the time."""
    gate = tfma.MetricThreshold(
        value_threshold=tfma.GenericValueThreshold(lower_bound={"value": min_accuracy}),
        # No baseline yet (first run): only the value threshold applies. TFMA passes diff >= absolute.
        change_threshold=tfma.GenericChangeThreshold(
            direction=tfma.MetricDirection.HIGHER_IS_BETTER, absolute={"value": -max_regression}
        ),
    )
    return tfma.EvalConfig(
        model_specs=[
            tfma.ModelSpec(
                signature_name=contract.TF_EXAMPLE_SIGNATURE,
                label_key=contract.LABEL_KEY,
                prediction_key=contract.PROBABILITY_OUTPUT,
            )
        ],
        slicing_specs=[tfma.SlicingSpec()],
        metrics_specs=[
            tfma.MetricsSpec(
                metrics=[
                    tfma.MetricConfig(class_name="ExampleCount"),
                    tfma.MetricConfig(class_name=GATED_METRIC, threshold=gate),
                    tfma.MetricConfig(class_name="Precision"),
                    tfma.MetricConfig(class_name="Recall"),
                    tfma.MetricConfig(class_name="AUC"),
                    tfma.MetricConfig(class_name="BinaryCrossentropy"),
                    tfma.MetricConfig(class_name="ConfusionMatrixPlot"),
                ]
            )
        ],
    )
