"""`catdog run`: the whole pipeline on this machine."""

import dataclasses

from pipeline import configs
from pipeline.commands.serve import positive_int

# Exit codes: 0 the model was pushed, 2 bad input (one line on stderr), NOT_PUSHED the run finished but the
# model was not pushed (below the accuracy gate): scripts and CI can tell without reading the output.
NOT_PUSHED = 3

# Kept here, not imported from components, so that `catdog --help` does not load TensorFlow.
PRESET_NAMES = ("tutorial", "augmented", "residual")
LR_SCHEDULES = ("constant", "cosine")


def add_parser(sub) -> None:
    p = sub.add_parser("run", help="run the pipeline locally: ingest, validate, transform, train, evaluate, push")
    p.add_argument("--data", default=configs.DATA_URI, help="zip of images: http(s):// or file:// URL, or a path")
    p.add_argument("--sha256", default="", help="expected sha256 of the zip (computed for local files if omitted)")
    p.add_argument("--download-timeout", type=positive_int, default=None, metavar="SECONDS",
                   help="give up a download of --data after this long (default 1800)")
    p.add_argument("--output", default=configs.OUTPUT_DIR, help="run directory: artifacts, metadata, serving/")
    p.add_argument("--model-name", default=configs.MODEL_NAME)
    p.add_argument("--epochs", type=int, default=configs.EPOCHS)
    p.add_argument("--batch-size", type=int, default=configs.BATCH_SIZE)
    p.add_argument("--learning-rate", type=float, default=configs.LEARNING_RATE)
    p.add_argument("--model", dest="model_preset", default=None, choices=PRESET_NAMES,
                   help="model preset (default: the best measured)")
    p.add_argument("--early-stopping-patience", type=int, default=0,
                   help="stop after N epochs without a lower validation loss (0: run all epochs, keep the best)")
    p.add_argument("--lr-schedule", default=configs.LR_SCHEDULE, choices=LR_SCHEDULES)
    p.add_argument("--seed", type=int, default=configs.SEED)
    p.add_argument("--image-size", type=int, default=configs.IMAGE_SIZE, help="side of the square model input")
    p.add_argument("--eval-percent", type=int, default=configs.EVAL_PERCENT,
                   help="eval share when the zip has class folders only")
    p.add_argument("--min-accuracy", type=float, default=configs.MIN_ACCURACY,
                   help="validation accuracy a model needs to be pushed")
    p.add_argument("--no-cache", action="store_true", help="recompute every component")
    p.set_defaults(func=_run)


def _run(args) -> int:
    from components import models
    from components.trainer import TrainConfig
    from pipeline.commands.insight import report_after_run
    from pipeline.local_runner import LocalRunSettings, run
    from pipeline.run_summary import describe

    train_config = TrainConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        model_preset=args.model_preset or models.DEFAULT_PRESET,
        seed=args.seed,
        early_stopping_patience=args.early_stopping_patience,
        lr_schedule=args.lr_schedule,
    )
    summary = run(
        LocalRunSettings(
            data_uri=args.data,
            output_dir=args.output,
            model_name=args.model_name,
            data_sha256=args.sha256,
            eval_percent=args.eval_percent,
            download_timeout_seconds=args.download_timeout,
            image_size=args.image_size,
            min_accuracy=args.min_accuracy,
            enable_cache=not args.no_cache,
            train_config=dataclasses.asdict(train_config),
        )
    )
    print(describe(summary))
    report_after_run(args.output)
    return 0 if summary.pushed else NOT_PUSHED
