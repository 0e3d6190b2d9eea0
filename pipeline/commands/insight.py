"""`catdog inspect-data`, `catdog visualize`, `catdog report`: see what the pipeline sees."""

import os
import sys

from pipeline import configs
from pipeline.settings import RunSettings

DEFAULT_MODEL_DIR = os.path.join(configs.OUTPUT_DIR, configs.SERVING_SUBDIR, configs.MODEL_NAME)


def add_parser(sub) -> None:
    p = sub.add_parser("inspect-data", help="counts per split and class and sample images, straight from the data")
    p.add_argument("--data", default=configs.DATA_URI, help="images in class folders, as for `catdog run --data`: a zip (path or URL), a folder "
                   "or an object-store prefix")
    p.add_argument("--out", default=os.path.join(configs.OUTPUT_DIR, "inspect-data"), help="folder for samples.png")
    p.add_argument("--download-timeout", dest="download_timeout_seconds", type=int,
                   default=RunSettings.download_timeout_seconds, metavar="SECONDS",
                   help="give up a download of --data after this long")
    p.add_argument("--eval-percent", type=int, default=RunSettings.eval_percent,
                   help="eval share when the data has class folders only (as for `catdog run`)")
    p.set_defaults(func=_inspect_data)

    p = sub.add_parser("visualize", help="one image's feature maps per conv/pool layer and its Grad-CAM heat map")
    p.add_argument("image", metavar="IMAGE", help="a JPEG, PNG, GIF or BMP file")
    p.add_argument("--model", default=DEFAULT_MODEL_DIR,
                   help="an exported model folder, or a serving folder (its newest version is used)")
    p.add_argument("--out", default=None, help="output folder (default: runs/catdog/visualize/<image name>)")
    p.set_defaults(func=_visualize)

    p = sub.add_parser("report", help="write a run's HTML report: data, training, evaluation, model internals")
    p.add_argument("--run", default=configs.OUTPUT_DIR, help="the --output folder of `catdog run`")
    p.set_defaults(func=_report)


def _inspect_data(args) -> int:
    from insight.data_samples import inspect_data

    found = inspect_data(args.data, args.out, args.eval_percent, args.download_timeout_seconds)
    print(f"Images per split and class (files in the zip; decoding is checked by `catdog run`):\n{found.table()}")
    for label, problems in (("Skipped", found.skipped), ("Not decodable", found.unreadable)):
        for file, reason in problems:
            print(f"{label}: {file}: {reason}")
    print(f"Sample images: {found.samples_png}")
    return 0


def _visualize(args) -> int:
    from insight import saved_model
    from insight.errors import InsightError
    from insight.visualize import visualize

    try:
        with open(args.image, "rb") as f:
            image = f.read()
    except OSError as e:
        raise InsightError(f"{args.image}: cannot read ({e.strerror or e})") from e
    out = args.out or os.path.join(configs.OUTPUT_DIR, "visualize", os.path.splitext(os.path.basename(args.image))[0])
    seen = visualize(saved_model.load(args.model), image, args.image, out)
    print(f"{args.image}: {seen.class_name} (probability of the second class {seen.probability:.4f})")
    print(f"Grad-CAM heat map: {seen.gradcam_png}")
    print(f"Feature maps ({len(seen.feature_maps)} layers): {os.path.dirname(seen.feature_maps[0])}")
    return 0


def _report(args) -> int:
    from insight.run_report import write_run_outputs

    print(f"Report: {write_run_outputs(args.run)['html']}")
    return 0


def report_after_run(output_dir: str) -> str:
    """The report at the end of `catdog run`: its HTML file, or "" when it failed. The run itself succeeded, so
    a report problem is a warning only."""
    from insight.run_report import write_run_outputs

    try:
        return write_run_outputs(output_dir)["html"]
    except Exception as e:  # noqa: BLE001 - any failure: the trained and pushed model stands
        print(f"catdog: warning: no report ({type(e).__name__}: {e}); retry with `catdog report --run {output_dir}`",
              file=sys.stderr)
        return ""
