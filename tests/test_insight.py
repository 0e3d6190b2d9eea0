"""`catdog inspect-data`, `catdog visualize`, `catdog report` and the report `catdog run` writes, on a real run."""

import base64
import contextlib
import html.parser
import io
import os
import shutil
from pathlib import Path

import imagegen
import pytest
import tf_keras as keras
from conftest import CommandResult
from ingest_runs import record_as_ingestion_output
from PIL import Image

from cli import main as cli
from insight import evaluation, feature_maps, figures, gradcam, image_grid, run_report, training_curves
from insight.data_samples import SAMPLES_PER_CLASS
from pipeline import run_summary

# The report's figures besides its feature maps: samples, training curves, confusion matrix, hardest images,
# out-of-distribution scores, a Grad-CAM for each new image and one for the hardest image.
FIGURES_BESIDES_FEATURE_MAPS = 6 + run_report.NEW_IMAGE_COUNT


def catdog(*args) -> CommandResult:
    """The command line in this process: TensorFlow is imported once for all the tests."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main([str(a) for a in args])
    return CommandResult(code, out.getvalue(), err.getvalue())


def assert_png(path, size=None) -> Image.Image:
    """A real PNG (of this (width, height), when given) that is not one flat colour."""
    assert os.path.isfile(path), f"{path} is missing"
    with Image.open(path) as image:
        assert image.format == "PNG"
        image.load()
        if size is not None:
            assert image.size == tuple(size), path
        assert image.convert("RGB").getcolors(1) is None, f"{path} is a single colour"
        return image


class _Sources(html.parser.HTMLParser):
    """Every src and href in a page."""

    def __init__(self):
        super().__init__()
        self.sources = []

    def handle_starttag(self, tag, attrs):
        self.sources += [(tag, value) for name, value in attrs if name in ("src", "href")]


def page_sources(path):
    parser = _Sources()
    parser.feed(Path(path).read_text())
    return parser.sources


# ---- inspect-data


def test_inspect_data_prints_counts_and_draws_samples(pipeline_run, tmp_path):
    result = catdog("inspect-data", "--data", pipeline_run.data_zip, "--out", tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    rows = [line.split() for line in result.stdout.splitlines()]
    # conftest's zip: 40 + 40 training images, 10 + 10 validation images.
    assert ["split", "cats", "dogs", "total"] in rows
    assert ["train", "40", "40", "80"] in rows and ["eval", "10", "10", "20"] in rows
    assert_png(tmp_path / "samples.png", image_grid.pixel_size(2 * SAMPLES_PER_CLASS, SAMPLES_PER_CLASS))


def test_inspect_data_lists_skipped_files(tmp_path):
    files = imagegen.class_folder_files(8)
    files["README.txt"] = b"not in a class folder"
    files["cats/cats.0.jpg"] = b"broken"  # the first cat: met while picking samples
    zip_path = imagegen.write_zip(tmp_path / "data.zip", files)
    result = catdog("inspect-data", "--data", zip_path, "--out", tmp_path / "out")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Skipped: README.txt: not inside a class folder" in result.stdout
    assert "Not decodable: cats/cats.0.jpg: cats/cats.0.jpg: not an image file" in result.stdout
    assert_png(tmp_path / "out" / "samples.png", image_grid.pixel_size(2 * SAMPLES_PER_CLASS, SAMPLES_PER_CLASS))


def test_inspect_data_bad_zip_gets_one_clear_line(tmp_path):
    bad = tmp_path / "photos.zip"
    bad.write_text("not a zip")
    result = catdog("inspect-data", "--data", bad, "--out", tmp_path)
    assert result.returncode == 2
    assert f"catdog: error: {bad}: not a zip file" in result.stderr and "Traceback" not in result.stderr


# ---- visualize


# The default preset's backbone, MobileNet, by the activation that ends each of its five resolutions.
MOBILENET_STAGES = ["conv_pw_1_relu", "conv_pw_3_relu", "conv_pw_5_relu", "conv_pw_11_relu", "conv_pw_13_relu"]


@pytest.fixture(scope="module")
def model_layers(pipeline_run):
    """The pushed model's stage-ending layers, read independently of the code under test."""
    model = keras.models.load_model(pipeline_run.latest_model, compile=False)
    return [model.get_layer(name) for name in MOBILENET_STAGES]


def _panel_pixel_size(channel_count: int):
    """(width, height) of the PNG feature_maps.save_panel draws for a layer with this many channels."""
    shown = min(channel_count, feature_maps.MAX_CHANNELS)
    inches = figures.grid_inches(
        shown, feature_maps.COLUMNS, (feature_maps.CELL_INCHES,) * 2, feature_maps.TITLE_INCHES
    )
    return figures.pixel_size(*inches)


def test_visualize_draws_one_panel_per_stage_and_a_captioned_gradcam(pipeline_run, model_layers, tmp_path):
    image = tmp_path / "odd size.png"
    image.write_bytes(imagegen.image_bytes(1, size=(173, 91), fmt="png"))
    # The serving folder, not a version: the newest version is used.
    result = catdog("visualize", image, "--model", pipeline_run.serving_dir, "--out", tmp_path / "out")
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"{image}: " in result.stdout and ("cats" in result.stdout or "dogs" in result.stdout)
    assert ", probability " in result.stdout  # the predicted class's own probability
    assert_png(tmp_path / "out" / "gradcam.png", figures.pixel_size(*gradcam.FIGURE_INCHES))  # title and colour bar
    panels = sorted((tmp_path / "out" / "feature_maps").iterdir())
    assert [p.name for p in panels] == [f"{i:02d}_{layer.name}.png" for i, layer in enumerate(model_layers, start=1)]
    for panel, layer in zip(panels, model_layers):
        assert_png(panel, _panel_pixel_size(layer.output_shape[-1]))


def test_visualize_names_a_file_that_is_not_an_image(pipeline_run, tmp_path):
    text = tmp_path / "notes.jpg"
    text.write_text("hello")
    result = catdog("visualize", text, "--model", pipeline_run.latest_model, "--out", tmp_path)
    assert result.returncode == 2
    assert f"catdog: error: {text}: not an image file" in result.stderr and "Traceback" not in result.stderr


def test_visualize_names_a_folder_without_a_model(tmp_path):
    image = tmp_path / "cat.jpg"
    image.write_bytes(imagegen.image_bytes(0))
    result = catdog("visualize", image, "--model", tmp_path, "--out", tmp_path / "out")
    assert result.returncode == 2
    assert f"catdog: error: {tmp_path}: no saved_model.pb and no numbered model versions" in result.stderr


# ---- the report


def test_run_prints_where_its_report_is(pipeline_run):
    html_path = pipeline_run.output / "report" / "report.html"
    assert f"Report: {html_path}" in pipeline_run.result.stdout
    assert html_path.is_file()


@pytest.fixture(scope="module")
def report(pipeline_run, tmp_path_factory):
    """`catdog report` on a copy of the run's metadata: the artifacts are the run's, the report folder is new."""
    run = tmp_path_factory.mktemp("report_run")
    shutil.copy(pipeline_run.output / "metadata.sqlite", run / "metadata.sqlite")
    result = catdog("report", "--run", run)
    assert result.returncode == 0, result.stderr[-3000:]
    return run, result


def test_report_writes_every_figure_at_its_size(report):
    run, result = report
    out = run / "report"
    assert f"Report: {out / 'report.html'}" in result.stdout
    assert_png(out / "samples.png", image_grid.pixel_size(2 * SAMPLES_PER_CLASS, SAMPLES_PER_CLASS))
    assert_png(
        out / "training_curves.png", figures.pixel_size(training_curves.WIDTH_INCHES, training_curves.HEIGHT_INCHES)
    )
    assert_png(
        out / "confusion_matrix.png",
        figures.pixel_size(evaluation.CONFUSION_WIDTH_INCHES, evaluation.CONFUSION_HEIGHT_INCHES),
    )
    # 20 validation images: the 12 hardest are shown.
    assert_png(
        out / "hardest_validation_images.png",
        image_grid.pixel_size(evaluation.HARDEST_COUNT, evaluation.HARDEST_COLUMNS),
    )
    assert "conv_pw_13" in (out / "model_summary.txt").read_text()  # the default preset's backbone


def test_report_gradcam_is_captioned(report):
    run, _ = report
    assert_png(run / "report" / "gradcam.png", figures.pixel_size(*gradcam.FIGURE_INCHES))


def test_report_shows_one_feature_map_panel_per_backbone_stage(report, model_layers):
    run, _ = report
    panels = sorted((run / "report" / "feature_maps").iterdir())
    assert [p.name for p in panels] == [f"{i:02d}_{layer.name}.png" for i, layer in enumerate(model_layers, start=1)]


def test_report_page_embeds_every_image_and_refers_to_no_file(report, model_layers):
    run, _ = report
    page = run / "report" / "report.html"
    sources = page_sources(page)
    assert all(value.startswith("data:") for _, value in sources), [v[:60] for _, v in sources]
    images = [value for tag, value in sources if tag == "img"]
    assert len(images) == FIGURES_BESIDES_FEATURE_MAPS + len(model_layers)  # and a feature-map panel a layer
    for uri in images:
        header, data = uri.split(",", 1)
        assert header == "data:image/png;base64"
        Image.open(io.BytesIO(base64.b64decode(data))).verify()


def test_report_page_says_what_happened_to_the_model(report):
    run, _ = report
    text = (run / "report" / "report.html").read_text()
    artifacts = run_summary.find_artifacts(str(run / "metadata.sqlite"))
    summary = run_summary.summarize(str(run / "metadata.sqlite"))
    assert html.escape(run_summary.describe(summary)) in text
    assert ("The Evaluator blessed the model" if artifacts.blessed else "The Evaluator did NOT bless") in text
    assert ("the Pusher pushed it" if summary.pushed else "the Pusher did NOT push it") in text
    for heading in ("Data", "Model", "Training", "Evaluation", "What the model looks at"):
        assert f"<h2>{heading}</h2>" in text
    assert "Left out" not in text  # a complete run: every section is there
    assert "ExampleValidator found no anomalies" in text and "No file was skipped." in text
    for metric in ("accuracy", "precision", "recall", "AUC"):
        assert f"<td>{metric}</td>" in text


def test_report_of_a_run_without_a_model_keeps_what_it_has(pipeline_run, tmp_path):
    """A run that stopped after ingestion: the data section, and notes instead of the rest."""
    from tfx.types import standard_artifacts

    from insight.run_report import write_run_outputs

    artifact = standard_artifacts.Examples()
    artifact.uri = run_summary.find_artifacts(str(pipeline_run.output / "metadata.sqlite")).examples
    record_as_ingestion_output(str(tmp_path / "metadata.sqlite"), artifact)

    paths = write_run_outputs(str(tmp_path))
    assert set(paths) == {"samples", "html"}
    text = Path(paths["html"]).read_text()
    assert "Left out: the run has no trained model" in text
    assert "Left out: the run has no Trainer output" in text
    assert "The Evaluator did not run" in text


def test_report_of_a_folder_that_is_no_run_gets_one_clear_line(tmp_path):
    result = catdog("report", "--run", tmp_path)
    assert result.returncode == 2
    assert f"catdog: error: {tmp_path}: no metadata.sqlite" in result.stderr and "Traceback" not in result.stderr


def test_run_survives_a_failing_report(capsys, tmp_path):
    from cli.report import report_after_run

    report_after_run(str(tmp_path))  # no metadata: the report fails
    err = capsys.readouterr().err
    assert "catdog: warning: no report" in err and f"catdog report --run {tmp_path}" in err
