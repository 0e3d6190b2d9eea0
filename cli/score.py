"""`catdog score`: batch scoring of a zip, a folder or an object-store prefix of images on Beam."""

import dataclasses

from components import contract, settings_core
from components.settings_core import same_as, setting
from pipeline.settings import RunSettings


@dataclasses.dataclass(frozen=True)
class ScoreSettings(settings_core.Checked):
    GROUP = "scoring"

    data: str = setting(
        "", "a zip, a folder, or an object-store prefix (gs://bucket/new/)", positional=True, metavar="DATA"
    )
    model: str = setting(
        "",
        "a serving folder of numbered versions (the newest is used) or one version's folder",
        metavar="DIR",
        required=True,
    )
    output: str = setting("predictions.jsonl", "JSON lines: {file, class_name, probability} or {file, error} per file")
    signature: str = setting(
        contract.IMAGE_BYTES_SIGNATURE,
        f"the image-bytes signature or the tf.Example one ({contract.TF_EXAMPLE_SIGNATURE})",
        choices=tuple(contract.SIGNATURE_INPUTS),
    )
    beam_pipeline_args: tuple[str, ...] = same_as(RunSettings, "beam_pipeline_args")


def add_parser(sub) -> None:
    settings_core.add_command(
        sub,
        "score",
        "classify every image of a zip, folder or gs:// prefix on Beam, to JSON lines",
        ScoreSettings,
        _score,
    )


def _score(args) -> int:
    import time

    score_settings = settings_core.from_args(ScoreSettings, args)

    from scoring.batch import score
    from serving.server.model_registry import resolve_model_dir

    model = resolve_model_dir(score_settings.model)  # a missing model fails now, not in every worker
    print(f"Scoring {score_settings.data} with {model} on Beam ...", flush=True)
    started = time.monotonic()
    scored, failed = score(
        score_settings.data, model, score_settings.output, score_settings.signature, score_settings.beam_pipeline_args
    )
    print(
        f"scored {scored} images with {model}, {failed} files could not be (their lines give the reason): "
        f"{score_settings.output} ({time.monotonic() - started:.1f} s)"
    )
    return 0
