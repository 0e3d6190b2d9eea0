"""`catdog score`: batch scoring of a zip, a folder or an object-store prefix of images on Beam."""

DEFAULT_OUTPUT = "predictions.jsonl"


def add_parser(sub) -> None:
    p = sub.add_parser("score", help="classify every image of a zip, folder or gs:// prefix on Beam, to JSON lines")
    p.add_argument("data", metavar="DATA", help="a zip, a folder, or an object-store prefix (gs://bucket/new/)")
    p.add_argument("--model", required=True, metavar="DIR",
                   help="a serving folder of numbered versions (the newest is used) or one version's folder")
    p.add_argument("--output", default=DEFAULT_OUTPUT, help="JSON lines: {file, class_name, probability} or "
                   "{file, error} per file")
    p.add_argument("--signature", default=None, help="the image-bytes signature (default) or the tf.Example one")
    p.add_argument("--beam-arg", action="append", default=[], metavar="ARG", dest="beam_args",
                   help="Beam pipeline options, as for `catdog run`: --beam-arg='--runner=DataflowRunner --project=P'")
    p.set_defaults(func=_score)


def _score(args) -> int:
    import sys

    from components import exporter
    from components.errors import CatdogError
    from pipeline.settings import split_arguments
    from serving.batch_scoring import score
    from serving.image_inputs import check_signature
    from serving.model_registry import resolve_model_dir
    from serving.status import ServingError

    signature = args.signature or exporter.IMAGE_BYTES_SIGNATURE
    try:
        check_signature(signature)
        model = resolve_model_dir(args.model)  # a missing model fails now, not in every worker
        scored, failed = score(args.data, model, args.output, signature, split_arguments(args.beam_args))
    except (ValueError, CatdogError, ServingError) as e:
        print(f"catdog: error: {e}", file=sys.stderr)
        return 2
    print(f"scored {scored} images with {model}, {failed} files could not be (their lines give the reason): {args.output}")
    return 0
