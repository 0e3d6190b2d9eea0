"""`catdog run`: the whole pipeline on this machine."""

from components import settings_core
from components.ingest import fetch
from pipeline import settings

# Exit codes: 0 the model was pushed, 2 bad input (one line on stderr), NOT_PUSHED the run finished but the
# model was not pushed (below the accuracy gate): scripts and CI can tell without reading the output.
NOT_PUSHED = 3


def add_parser(sub) -> None:
    settings_core.add_command(
        sub,
        "run",
        "run the pipeline locally: ingest, validate, transform, train, evaluate, push",
        settings.LocalRunSettings,
        _run,
    )


def _run(args) -> int:
    run_settings = settings_core.from_args(settings.LocalRunSettings, args)  # checked before the slow imports
    for data_uri in filter(None, (run_settings.data_uri, run_settings.score_data_uri)):
        fetch.check_local_exists(data_uri)

    import time

    from cli.report import report_after_run
    from components import models
    from pipeline.local_runner import run
    from pipeline.progress import StageTime
    from pipeline.run_summary import describe, stage_table, where_to_look

    preset = models.preset(run_settings.model_preset)
    if preset.weights_origin:
        # Now, not in the Trainer after ingestion: missing weights are a one-line error at once.
        models.resolve_weights(preset.weights_origin, run_settings.backbone_weights)

    summary = run(run_settings)
    print("Writing the report ...", flush=True)
    started = time.monotonic()
    report_html = report_after_run(run_settings.output_dir)
    summary.stages.append(StageTime("report", time.monotonic() - started))
    print(f"\n{stage_table(summary.stages)}\n\n{describe(summary)}\n{where_to_look(summary, report_html)}")
    return 0 if summary.pushed else NOT_PUSHED
