"""`catdog run`: the whole pipeline on this machine."""

import dataclasses

from pipeline import configs

# Kept here, not imported from components, so that `catdog --help` does not load TensorFlow.
PRESET_NAMES = ("mobilenet", "tutorial", "augmented", "residual")
LR_SCHEDULES = ("constant", "cosine")


def add_parser(sub) -> None:
    p = sub.add_parser("run", help="run the pipeline locally: ingest, validate, transform, train, evaluate, push")
    p.add_argument("--data", default=configs.DATA_URI, help="zip of images: http(s):// or file:// URL, or a path")
    p.add_argument("--sha256", default="", help="expected sha256 of the zip (computed for local files if omitted)")
    p.add_argument("--output", default=configs.OUTPUT_DIR, help="run directory: artifacts, metadata, serving/")
    p.add_argument("--model-name", default=configs.MODEL_NAME)
    p.add_argument("--model", dest="model_preset", default=None, choices=PRESET_NAMES,
                   help="model preset (default: the best measured); each trains by its own measured recipe")
    p.add_argument("--backbone-weights", default="",
                   help="pretrained presets: the backbone's Keras .h5 weights, a path or object-store URI "
                        "(default: Keras' ImageNet weights from its cache, ~/.keras/models, else downloaded)")
    p.add_argument("--epochs", type=int, default=None, help="(first-phase) epochs (default: the preset's)")
    p.add_argument("--learning-rate", type=float, default=None, help="default: the preset's")
    p.add_argument("--fine-tune-epochs", type=int, default=None,
                   help="pretrained presets: epochs fine-tuning the backbone's top blocks (default: the preset's)")
    p.add_argument("--fine-tune-learning-rate", type=float, default=None, help="default: the preset's")
    p.add_argument("--batch-size", type=int, default=configs.BATCH_SIZE)
    p.add_argument("--early-stopping-patience", type=int, default=0,
                   help="stop after N epochs without a lower validation loss (0: run all epochs, keep the best)")
    p.add_argument("--lr-schedule", default=None, choices=LR_SCHEDULES, help="default: the preset's")
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
        model_preset=args.model_preset or models.DEFAULT_PRESET,
        epochs=args.epochs,
        learning_rate=args.learning_rate,
        lr_schedule=args.lr_schedule,
        fine_tune_epochs=args.fine_tune_epochs,
        fine_tune_learning_rate=args.fine_tune_learning_rate,
        batch_size=args.batch_size,
        seed=args.seed,
        early_stopping_patience=args.early_stopping_patience,
        backbone_weights=args.backbone_weights,
    )
    preset = models.preset(train_config.model_preset)
    if preset.weights_origin:
        # Now, not in the Trainer after ingestion: missing weights are a one-line error at once.
        models.resolve_weights(preset.weights_origin, train_config.backbone_weights)
    summary = run(
        LocalRunSettings(
            data_uri=args.data,
            output_dir=args.output,
            model_name=args.model_name,
            data_sha256=args.sha256,
            eval_percent=args.eval_percent,
            image_size=args.image_size,
            min_accuracy=args.min_accuracy,
            enable_cache=not args.no_cache,
            train_config=dataclasses.asdict(train_config),
        )
    )
    print(describe(summary))
    report_after_run(args.output)
    return 0
