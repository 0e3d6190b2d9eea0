"""`catdog inspect-data`, `catdog visualize`, `catdog report`: see what the pipeline sees."""

import dataclasses
import os
import sys

from components import settings_core
from components.settings_core import same_as, setting
from pipeline import configs
from pipeline.settings import RunSettings

DEFAULT_MODEL_DIR = os.path.join(configs.OUTPUT_DIR, configs.SERVING_SUBDIR, configs.MODEL_NAME)


@dataclasses.dataclass(frozen=True)
class InspectDataSettings(settings_core.Checked):
    GROUP = "data"

    data_uri: str = same_as(RunSettings, "data_uri")
    out: str = setting(os.path.join(configs.OUTPUT_DIR, "inspect-data"), "folder for samples.png")
    download_timeout_seconds: int = same_as(RunSettings, "download_timeout_seconds")
    eval_percent: int = same_as(RunSettings, "eval_percent")


@dataclasses.dataclass(frozen=True)
class VisualizeSettings(settings_core.Checked):
    GROUP = "visualize"

    image: str = setting("", "a JPEG, PNG, GIF or BMP file", positional=True, metavar="IMAGE")
    model: str = setting(
        DEFAULT_MODEL_DIR, "an exported model folder, or a serving folder (its newest version is used)"
    )
    out: str = setting("", "output folder (default: runs/catdog/visualize/<image name>)")


@dataclasses.dataclass(frozen=True)
class ReportSettings(settings_core.Checked):
    GROUP = "report"

    run: str = setting(configs.OUTPUT_DIR, "the --output folder of `catdog run`")
    predict: tuple[str, ...] = setting(
        (),
        "an image to predict and explain in the report's New images section; "
        "repeat it for more (default: a few validation images)",
        metavar="IMAGE",
    )


def add_parser(sub) -> None:
    settings_core.add_command(
        sub,
        "inspect-data",
        "counts per split and class and sample images, straight from the data",
        InspectDataSettings,
        _inspect_data,
    )

    settings_core.add_command(
        sub,
        "visualize",
        "one image's feature maps per conv/pool layer and its Grad-CAM heat map",
        VisualizeSettings,
        _visualize,
    )

    settings_core.add_command(
        sub, "report", "write a run's HTML report: data, training, evaluation, model internals", ReportSettings, _report
    )


def _inspect_data(args) -> int:
    args = settings_core.from_args(InspectDataSettings, args)
    from insight.data_samples import inspect_data

    found = inspect_data(args.data_uri, args.out, args.eval_percent, args.download_timeout_seconds)
    print(f"Images per split and class (files in the zip; decoding is checked by `catdog run`):\n{found.table()}")
    for label, problems in (("Skipped", found.skipped), ("Not decodable", found.unreadable)):
        for file, reason in problems:
            print(f"{label}: {file}: {reason}")
    print(f"Sample images: {found.samples_png}")
    return 0


def _visualize(args) -> int:
    args = settings_core.from_args(VisualizeSettings, args)
    from components import files
    from insight import predictions, saved_model
    from insight.visualize import visualize

    image = files.read_bytes(args.image)
    out = args.out or os.path.join(configs.OUTPUT_DIR, "visualize", os.path.splitext(os.path.basename(args.image))[0])
    seen = visualize(saved_model.load(args.model), image, args.image, out)
    print(f"{args.image}: {predictions.caption(seen.class_name, seen.class_id, seen.probability)}")
    print(f"Grad-CAM heat map: {seen.gradcam_png}")
    print(f"Feature maps ({len(seen.feature_maps)} layers): {os.path.dirname(seen.feature_maps[0])}")
    return 0


def _report(args) -> int:
    args = settings_core.from_args(ReportSettings, args)
    from insight.run_report import write_run_outputs

    print(f"Report: {write_run_outputs(args.run, args.predict)['html']}")
    return 0


def report_after_run(output_dir: str) -> str:
    """The report at the end of `catdog run`: its HTML file, or "" when it failed. The run itself succeeded, so
    a report problem is a warning only."""
    from insight.run_report import write_run_outputs

    try:
        return write_run_outputs(output_dir)["html"]
    except Exception as e:  # noqa: BLE001 - any failure: the trained and pushed model stands
        print(
            f"catdog: warning: no report ({type(e).__name__}: {e}); retry with `catdog report --run {output_dir}`",
            file=sys.stderr,
        )
        return ""
