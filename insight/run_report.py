"""A finished run's report in <output>/report/: its data, training, evaluation and what the model looks at."""

import functools
import itertools
import os
import shutil
from collections.abc import Callable, Sequence

from tfx.utils import path_utils

from components import contract, files, trainer
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
from insight.predictions import caption as prediction_caption
from pipeline import configs, run_summary

REPORT_SUBDIR = "report"
HTML_FILE = "report.html"
MODEL_SUMMARY_FILE = trainer.SUMMARY_FILE
TRAINING_CURVES_FILE = "training_curves.png"
CONFUSION_MATRIX_FILE = "confusion_matrix.png"
HARDEST_FILE = "hardest_validation_images.png"
NEW_IMAGES_DIR = "new_images"
NEW_IMAGE_COUNT = 3  # validation images shown as new ones when no --predict image is given
NEAR_CHANCE = 0.05  # accuracy within this of the commonest class's share is a model that has learnt ~nothing
OOD_FILE = "ood_scores.png"
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

    def __init__(self, output_dir: str, report_dir: str, new_image_files: Sequence[str] = ()):
        self.new_image_files = list(new_image_files)
        metadata_path = os.path.join(output_dir, configs.METADATA_FILE)
        if not os.path.isfile(metadata_path):
            raise InsightError(f"{output_dir}: no {configs.METADATA_FILE}, so not the --output of a `catdog run`")
        self.artifacts = run_summary.find_artifacts(metadata_path)
        self.summary = run_summary.summarize(metadata_path)
        self.report_dir = report_dir
        self.paths: dict[str, str] = {}

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
    def class_names(self) -> list[str]:
        return self.ingest.class_names

    @functools.cached_property
    def model(self):
        """The Trainer's model: what the Evaluator judged, and what the Pusher copied when it was blessed."""
        if not self.artifacts.model:
            raise InsightError("the run has no trained model: the Trainer did not finish")
        return saved_model.load(path_utils.serving_model_path(self.artifacts.model))

    @functools.cached_property
    def predictions(self) -> list[evaluation.Prediction]:
        """Every validation image's score: the Trainer's, of the weights the Evaluator judged (scoring the split
        again would cost what the Evaluator's pass does)."""
        return evaluation.scored(
            os.path.join(self._model_run(), trainer.VALIDATION_SCORES_FILE),
            evaluation.read_examples(self._examples(), layout.EVAL),
            self.class_names,
        )

    def outcome(self) -> list[str]:
        blessed = self.artifacts.blessed
        verdict = "did not run" if blessed is None else ("blessed the model" if blessed else "did NOT bless the model")
        pushed = "pushed it" if self.summary.pushed else "did NOT push it"
        return [
            html_report.paragraph(f"The Evaluator {verdict}; the Pusher {pushed}."),
            *self._near_chance(),
            html_report.preformatted(run_summary.describe(self.summary)),
        ]

    def _near_chance(self) -> list[str]:
        """A caution when the pushed model scores within NEAR_CHANCE of always answering the commonest class."""
        accuracy = self.summary.accuracy
        if not self.summary.pushed or accuracy is None:
            return []
        counts = self.ingest.counts.get(layout.EVAL, {})
        if not counts or not sum(counts.values()):
            return []
        commonest = max(counts, key=counts.get)
        chance = counts[commonest] / sum(counts.values())
        if accuracy > chance + NEAR_CHANCE:
            return []
        return [
            html_report.caution(
                f"Caution: the pushed model's validation accuracy, {accuracy:.4f}, is within {NEAR_CHANCE:.2f} of "
                f"chance ({chance:.4f}: always answering {commonest}). The accuracy gate (--min-accuracy) let it "
                "through; it is not a useful classifier yet."
            )
        ]

    def data(self) -> list[str]:
        ingest = self.ingest
        how = (
            "by a hash of each file name"
            if ingest.split_by_hash
            else f"by the {_data_form(ingest.data_uri)}'s split folders (train/, validation/)"
        )
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

    def _anomalies(self) -> list[str]:
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

    def model_summary(self) -> list[str]:
        source = os.path.join(self._model_run(), trainer.SUMMARY_FILE)
        try:
            text = files.read_text(source)
        except files.FileRefused as e:
            raise InsightError(str(e)) from e
        with open(self._file(MODEL_SUMMARY_FILE), "w") as f:
            f.write(text)
        self._written("model_summary", f.name)
        # The totals in view (written after the last phase: fine-tuning's trainable count), the layers folded.
        totals = [
            line
            for line in text.splitlines()
            if line.strip().lower().startswith(("total", "trainable", "non-trainable"))
        ]
        return [
            html_report.preformatted("\n".join(totals) or "(no totals)"),
            html_report.folded(
                "Every layer (model.summary(), after the last training phase)", html_report.preformatted(text)
            ),
        ]

    def training(self) -> list[str]:
        record = training_curves.load_history(self._model_run())
        curves = training_curves.save_training_curves(record, self._file(TRAINING_CURVES_FILE))
        epochs = len(record["history"]["loss"])
        blocks = [html_report.image(self._written("training_curves", curves), "training curves")]
        if "kept_epoch" in record:
            blocks.insert(
                0,
                html_report.paragraph(
                    f"Kept the weights of epoch {record['kept_epoch']} of {epochs} ({record['kept_by']}): "
                    f"validation accuracy {record['kept_val_accuracy']:.4f}."
                ),
            )
        if "config" in record:
            blocks.append(
                html_report.paragraph(
                    "The settings the Trainer ran with: a setting left out of the command "
                    "line takes the preset's recipe value."
                )
            )
            blocks.append(html_report.table([["setting", "value"], *_effective_settings(record)]))
        return blocks

    def evaluation(self) -> list[str]:
        blocks = []
        if self.artifacts.evaluation:
            metrics = run_summary.overall_metrics(self.artifacts.evaluation)
            rows = [[label, f"{metrics[name]:.4g}"] for name, label in METRICS if name in metrics]
            blocks.append(html_report.paragraph("TFMA on the eval split:"))
            blocks.append(html_report.table([["metric", "value"], *rows]))
        else:
            blocks.append(html_report.note("The Evaluator did not run: no TFMA metrics."))
        blocks.append(
            html_report.paragraph(
                "Image by image (the confusion matrix, the hardest images, the out-of-distribution scores): the "
                "Trainer's scores of the same weights, from its last pass over the eval split."
            )
        )
        matrix = evaluation.confusion_matrix(self.predictions, len(self.class_names))
        png = evaluation.save_confusion_matrix(matrix, self.class_names, self._file(CONFUSION_MATRIX_FILE))
        blocks.append(html_report.image(self._written("confusion_matrix", png), "confusion matrix"))
        png = evaluation.save_hardest_grid(self.predictions, self.class_names, self._file(HARDEST_FILE))
        blocks.append(html_report.image(self._written("hardest", png), "hardest validation images"))
        return blocks + self._ood()

    def _ood(self) -> list[str]:
        """The out-of-distribution scores of the validation images against the threshold fitted on training's."""
        fitted = training_curves.load_history(self._model_run()).get("ood")
        if not fitted or not self.predictions or self.predictions[0].ood_score is None:
            return [html_report.note("The model has no out-of-distribution score.")]
        flagged = sum(not p.in_distribution for p in self.predictions)
        png = evaluation.save_ood_histogram(self.predictions, fitted["threshold"], self._file(OOD_FILE))
        return [
            html_report.paragraph(
                f"Neither class: {flagged} of {len(self.predictions)} validation images "
                f"({flagged / len(self.predictions):.1%}) score above the threshold {fitted['threshold']:.2f}, "
                f"which holds {fitted['in_distribution_share']:.0%} of the training images ({fitted['method']}). "
                "They keep their class and probability; TFMA evaluated every image."
            ),
            html_report.image(self._written("ood_scores", png), "out-of-distribution scores"),
        ]

    def new_images(self) -> list[str]:
        """The images given with --predict (or a few validation images): predicted and explained as
        `catdog predict` and `catdog visualize` would."""
        if self.new_image_files:
            images = [(path, _read_image(path)) for path in self.new_image_files]
            blocks = [html_report.paragraph("The images given with --predict:")]
        else:
            by_class: dict[int, list] = {}
            for e in evaluation.read_examples(self._examples(), layout.EVAL):
                if len(by_class.setdefault(e.label, [])) < NEW_IMAGE_COUNT:
                    by_class[e.label].append(e)
            # Classes in turn, so both show.
            turns = itertools.chain.from_iterable(itertools.zip_longest(*by_class.values()))
            images = [(e.filename, e.image_raw) for e in itertools.islice(filter(None, turns), NEW_IMAGE_COUNT)]
            blocks = [
                html_report.paragraph(
                    f"{len(images)} validation images, predicted as a new image would be (`catdog report --predict "
                    "IMAGE` shows yours; `catdog predict` prints the same). Grad-CAM: where the last convolution found "
                    "evidence for the predicted class."
                )
            ]
        for number, (name, image) in enumerate(images, 1):
            png = self._file(os.path.join(NEW_IMAGES_DIR, f"{number:02d}_{os.path.basename(name)}.png"))
            explained = visualize.explain(self.model, image, name, png)
            self._written(f"{NEW_IMAGES_DIR}/{os.path.basename(png)}", png)
            caption = prediction_caption(explained.class_name, explained.class_id, explained.probability)
            blocks.append(html_report.paragraph(f"{name}: predicted {caption}"))
            blocks.append(html_report.image(png, f"{name}: Grad-CAM", width_px=360))
        return blocks

    def internals(self) -> list[str]:
        worst = evaluation.hardest(self.predictions, 1)[0].example
        seen = visualize.visualize(self.model, worst.image_raw, worst.filename, self.report_dir)
        self._written("gradcam", seen.gradcam_png)
        for path in seen.feature_maps:
            self._written(f"{visualize.FEATURE_MAPS_DIR}/{os.path.basename(path)}", path)
        return [
            html_report.paragraph(
                f"The hardest validation image, {worst.filename} (true class {self.class_names[worst.label]}), "
                f"predicted {prediction_caption(seen.class_name, seen.class_id, seen.probability)}. "
                "Grad-CAM: where the last convolution found evidence for the predicted class (red: most)."
            ),
            html_report.image(seen.gradcam_png, "Grad-CAM heat map", width_px=300),
            html_report.paragraph("What each convolution and pooling layer makes of it, channel by channel:"),
            *(html_report.image(path, os.path.basename(path)) for path in seen.feature_maps),
        ]


def _read_image(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise InsightError(f"{path}: cannot read ({e.strerror or e})") from e


def _effective_settings(record) -> list[list[str]]:
    """(setting, value) rows: the flags as given, the preset's recipe where a flag was left out (None)."""
    recipe = record.get("recipe", {})
    rows = []
    for name, value in sorted(record["config"].items()):
        if value is None and name in recipe:
            rows.append([name, f"{recipe[name]} (the preset's recipe)"])
        else:
            rows.append([name, str(value)])
    return rows


def _data_form(data_uri: str) -> str:
    """What --data named, in words: a zip, a folder or an object-store prefix."""
    if data_uri.lower().split("?")[0].endswith(".zip"):
        return "zip"
    return "folder" if "://" not in data_uri or data_uri.startswith("file://") else "prefix"


def _duplicates(found) -> list[str]:
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


def _section(title: str, build: Callable[[], list[str]]) -> str:
    try:
        blocks = build()
    except InsightError as e:
        blocks = [html_report.note(f"Left out: {e}")]
    return html_report.section(title, blocks)


def write_run_outputs(output_dir: str, new_image_files: Sequence[str] = ()) -> dict[str, str]:
    """Writes <output_dir>/report/ and returns {name: path} of what it wrote; "html" is the page with it all.
    new_image_files: images to predict and explain in the New images section (default: a few validation ones)."""
    report_dir = os.path.join(output_dir, REPORT_SUBDIR)
    report = _RunReport(output_dir, report_dir, new_image_files)
    # Generated files only: cleared so a report never mixes in files of an earlier model.
    shutil.rmtree(report_dir, ignore_errors=True)
    os.makedirs(report_dir)
    sections = [
        _section("Outcome", report.outcome),
        _section("Data", report.data),
        _section("Model", report.model_summary),
        _section("Training", report.training),
        _section("Evaluation", report.evaluation),
        _section("New images", report.new_images),
        _section("What the model looks at", report.internals),
    ]
    html_path = os.path.join(report_dir, HTML_FILE)
    with open(html_path, "w") as f:
        f.write(html_report.page(f"catdog run report: {os.path.abspath(output_dir)}", sections))
    report.paths["html"] = html_path
    return report.paths
