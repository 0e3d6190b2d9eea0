"""A finished run's report in <output>/report/: its data, training, evaluation and what the model looks at."""

import functools
import os
import shutil
from typing import Callable, Dict, List

from tfx.utils import path_utils

from components import contract, trainer
from components.data_gate import read_anomalies
from components.ingest import duplicates, layout
from insight import (
    data_samples,
    evaluation,
    html_report,
    saved_model,
    training_curves,
    visualize,
)
from insight.errors import InsightError
from pipeline import configs, run_summary

REPORT_SUBDIR = "report"
HTML_FILE = "report.html"
MODEL_SUMMARY_FILE = trainer.SUMMARY_FILE
TRAINING_CURVES_FILE = "training_curves.png"
CONFUSION_MATRIX_FILE = "confusion_matrix.png"
HARDEST_FILE = "hardest_validation_images.png"
# TFMA's metric names and the words the report uses for them.
METRICS = (
    ("binary_accuracy", "accuracy"),
    ("precision", "precision"),
    ("recall", "recall"),
    ("auc", "AUC"),
    ("binary_crossentropy", "loss (binary cross-entropy)"),
    ("example_count", "validation images"),
)


class _RunReport:
    """Builds the sections one by one; a section whose inputs are missing becomes a note saying so."""

    def __init__(self, output_dir: str, report_dir: str):
        metadata_path = os.path.join(output_dir, configs.METADATA_FILE)
        if not os.path.isfile(metadata_path):
            raise InsightError(f"{output_dir}: no {configs.METADATA_FILE}, so not the --output of a `catdog run`")
        self.artifacts = run_summary.find_artifacts(metadata_path)
        self.summary = run_summary.summarize(metadata_path)
        self.report_dir = report_dir
        self.paths: Dict[str, str] = {}

    def _written(self, key: str, path: str) -> str:
        self.paths[key] = path
        return path

    def _file(self, name: str) -> str:
        return os.path.join(self.report_dir, name)

    def _examples(self) -> str:
        if not self.artifacts.examples:
            raise InsightError("the run has no examples: ImageExampleGen did not finish")
        return self.artifacts.examples

    @functools.cached_property
    def ingest(self) -> contract.IngestReport:
        try:
            return contract.IngestReport.read(self._examples())
        except ValueError as e:
            raise InsightError(str(e)) from e
        except Exception as e:  # noqa: BLE001 - tf.errors.NotFoundError and the like, without importing TensorFlow
            raise InsightError(f"{self._examples()}: no ingest report ({type(e).__name__}: {e})") from e

    @property
    def class_names(self) -> List[str]:
        return self.ingest.class_names

    @functools.cached_property
    def model(self):
        """The Trainer's model: what the Evaluator judged, and what the Pusher copied when it was blessed."""
        if not self.artifacts.model:
            raise InsightError("the run has no trained model: the Trainer did not finish")
        return saved_model.load(path_utils.serving_model_path(self.artifacts.model))

    @functools.cached_property
    def predictions(self) -> List[evaluation.Prediction]:
        return evaluation.predict(self.model, evaluation.read_examples(self._examples(), layout.EVAL))

    def outcome(self) -> List[str]:
        blessed = self.artifacts.blessed
        verdict = "did not run" if blessed is None else ("blessed the model" if blessed else "did NOT bless the model")
        pushed = "pushed it" if self.summary.pushed else "did NOT push it"
        return [
            html_report.paragraph(f"The Evaluator {verdict}; the Pusher {pushed}."),
            html_report.preformatted(run_summary.describe(self.summary)),
        ]

    def data(self) -> List[str]:
        ingest = self.ingest
        how = "by a hash of each file name" if ingest.split_by_hash else "by the zip's folders"
        blocks = [
            html_report.paragraph(f"Images from {ingest.data_uri}, split into train and eval {how}:"),
            html_report.table(data_samples.count_rows(ingest.class_names, ingest.counts)),
        ]
        if ingest.skipped:
            blocks.append(html_report.paragraph(f"{len(ingest.skipped)} file(s) skipped:"))
            blocks.append(html_report.bullet_list(f"{s.file}: {s.reason}" for s in ingest.skipped))
        else:
            blocks.append(html_report.paragraph("No file was skipped."))
        blocks.extend(_duplicates(ingest.duplicates))
        blocks.extend(self._anomalies())
        train = evaluation.read_examples(self._examples(), layout.TRAIN)
        records = ((e.label, e.filename, lambda e=e: e.image_raw) for e in train)
        samples = self._file(data_samples.SAMPLES_FILE)
        data_samples.save_sample_grid(records, ingest.class_names, samples)
        blocks.append(html_report.image(self._written("samples", samples), "sample training images"))
        return blocks

    def _anomalies(self) -> List[str]:
        if not self.artifacts.anomalies:
            return [html_report.note("ExampleValidator did not run: no anomaly check.")]
        found = read_anomalies(self.artifacts.anomalies)
        if not found:
            return [html_report.paragraph("ExampleValidator found no anomalies against the schema.")]
        return [
            html_report.paragraph("ExampleValidator anomalies:"),
            html_report.bullet_list(f"{split}: {feature}: {description}" for split, feature, description in found),
        ]

    def _model_run(self) -> str:
        if not self.artifacts.model_run:
            raise InsightError("the run has no Trainer output: the Trainer did not finish")
        return self.artifacts.model_run

    def model_summary(self) -> List[str]:
        source = os.path.join(self._model_run(), trainer.SUMMARY_FILE)
        if not os.path.isfile(source):
            raise InsightError(f"{source}: no such file")
        copy = self._written("model_summary", shutil.copyfile(source, self._file(MODEL_SUMMARY_FILE)))
        with open(copy) as f:
            return [html_report.preformatted(f.read())]

    def training(self) -> List[str]:
        record = training_curves.load_history(self._model_run())
        curves = training_curves.save_training_curves(record, self._file(TRAINING_CURVES_FILE))
        epochs = len(record["history"]["loss"])
        blocks = [html_report.image(self._written("training_curves", curves), "training curves")]
        if "kept_epoch" in record:
            blocks.insert(0, html_report.paragraph(
                f"Kept the weights of epoch {record['kept_epoch']} of {epochs} ({record['kept_by']}): "
                f"validation accuracy {record['kept_val_accuracy']:.4f}."
            ))
        if "config" in record:
            blocks.append(html_report.table([["setting", "value"], *sorted(record["config"].items())]))
        return blocks

    def evaluation(self) -> List[str]:
        blocks = []
        if self.artifacts.evaluation:
            metrics = run_summary.overall_metrics(self.artifacts.evaluation)
            rows = [[label, f"{metrics[name]:.4g}"] for name, label in METRICS if name in metrics]
            blocks.append(html_report.paragraph("TFMA on the eval split:"))
            blocks.append(html_report.table([["metric", "value"], *rows]))
        else:
            blocks.append(html_report.note("The Evaluator did not run: no TFMA metrics."))
        matrix = evaluation.confusion_matrix(self.predictions, len(self.class_names))
        png = evaluation.save_confusion_matrix(matrix, self.class_names, self._file(CONFUSION_MATRIX_FILE))
        blocks.append(html_report.image(self._written("confusion_matrix", png), "confusion matrix"))
        png = evaluation.save_hardest_grid(self.predictions, self.class_names, self._file(HARDEST_FILE))
        blocks.append(html_report.image(self._written("hardest", png), "hardest validation images"))
        return blocks

    def internals(self) -> List[str]:
        worst = evaluation.hardest(self.predictions, 1)[0].example
        seen = visualize.visualize(self.model, worst.image_raw, worst.filename, self.report_dir)
        self._written("gradcam", seen.gradcam_png)
        for path in seen.feature_maps:
            self._written(f"{visualize.FEATURE_MAPS_DIR}/{os.path.basename(path)}", path)
        return [
            html_report.paragraph(
                f"The hardest validation image, {worst.filename} (true class {self.class_names[worst.label]}), "
                f"predicted {seen.class_name} with P({self.class_names[1]}) = {seen.probability:.2f}. "
                "Grad-CAM: where the last convolution found evidence for the predicted class (red: most)."
            ),
            html_report.image(seen.gradcam_png, "Grad-CAM heat map", width_px=300),
            html_report.paragraph("What each convolution and pooling layer makes of it, channel by channel:"),
            *(html_report.image(path, os.path.basename(path)) for path in seen.feature_maps),
        ]


def _duplicates(found) -> List[str]:
    """The ingest report's exact duplicates: counts, then each group's files."""
    if found is None:
        return [html_report.note("Duplicates were not looked for: the run's ingestion predates the check.")]
    if not found["groups"]:
        return [html_report.paragraph("No exact duplicate images.")]
    dropped = set(found["dropped"])
    if found["keep_cross_split_duplicates"]:
        fate = "kept in eval (--keep-cross-split-duplicates)"
    else:
        fate = f"{found[duplicates.DROPPED]} eval copies dropped"
    return [
        html_report.paragraph(
            f"Exact duplicate images (the same bytes): {found[duplicates.WITHIN_SPLIT]} group(s) within a split, "
            f"{found[duplicates.ACROSS_SPLITS]} across train and eval ({fate}):"
        ),
        html_report.bullet_list(
            ", ".join(f"{f['split']}: {f['file']}" + (" (dropped)" if f["file"] in dropped else "") for f in g["files"])
            for g in found["groups"]
        ),
    ]


def _section(title: str, build: Callable[[], List[str]]) -> str:
    try:
        blocks = build()
    except InsightError as e:
        blocks = [html_report.note(f"Left out: {e}")]
    return html_report.section(title, blocks)


def write_run_outputs(output_dir: str) -> Dict[str, str]:
    """Writes <output_dir>/report/ and returns {name: path} of what it wrote; "html" is the page with it all."""
    report_dir = os.path.join(output_dir, REPORT_SUBDIR)
    report = _RunReport(output_dir, report_dir)
    # Generated files only: cleared so a report never mixes in files of an earlier model.
    shutil.rmtree(report_dir, ignore_errors=True)
    os.makedirs(report_dir)
    sections = [
        _section("Outcome", report.outcome),
        _section("Data", report.data),
        _section("Model", report.model_summary),
        _section("Training", report.training),
        _section("Evaluation", report.evaluation),
        _section("What the model looks at", report.internals),
    ]
    html_path = os.path.join(report_dir, HTML_FILE)
    with open(html_path, "w") as f:
        f.write(html_report.page(f"catdog run report: {os.path.abspath(output_dir)}", sections))
    report.paths["html"] = html_path
    return report.paths
