"""`catdog predict`: classify image files with a served model (gRPC or REST) or an exported model folder."""

from components.errors import CatdogError
from pipeline import configs

DEFAULT_SERVER = "127.0.0.1:8500"


def add_parser(sub) -> None:
    p = sub.add_parser("predict", help="classify image files with `catdog serve`, TF Serving, or a model folder")
    p.add_argument("images", nargs="+", metavar="IMAGE", help="JPEG, PNG, GIF or BMP files")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--server", default=DEFAULT_SERVER, help="HOST:PORT of a gRPC Predict server")
    where.add_argument("--rest", default=None, metavar="URL",
                       help="http://HOST:PORT of a TF Serving REST API (catdog serve's --rest-port)")
    where.add_argument("--model", default=None, metavar="DIR", help="an exported model folder: no server needed")
    p.add_argument("--model-name", default=configs.MODEL_NAME, help="the model's name on the server")
    # The default is resolved when run: the signature names live with the exporter, which imports TensorFlow.
    p.add_argument("--signature", default=None,
                   help="signature to call: the image-bytes one (default) or the tf.Example one")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for the server")
    p.add_argument("--json", action="store_true", help="print a JSON list of {file, class_name, probability}")
    p.set_defaults(func=_predict)


def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise CatdogError(f"cannot read image file {path}: {e.strerror or e}") from e


def _predict(args) -> int:
    import json

    images = [_read(path) for path in args.images]  # before the slow imports, so a typo shows at once
    results = _classify(args, images)
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for r in results:
            print(f"{r['file']}\t{r['class_name']}\t{r['probability']:.6f}")
    return 0


def _classify(args, images):
    from components import exporter
    from serving.status import ServingError

    try:
        predictor = _predictor(args, args.signature or exporter.IMAGE_BYTES_SIGNATURE)
    except ValueError as e:  # a signature that does not classify images
        raise CatdogError(str(e)) from e
    results = []
    for path, image in zip(args.images, images):
        # One request a file, so the error names a file the model cannot decode.
        try:
            (prediction,) = predictor.predict([image])
        except ServingError as e:
            raise CatdogError(f"{path}: {e}") from e
        results.append({"file": path, **prediction})
    return results


def _predictor(args, signature: str):
    if args.model:
        from serving.in_process import InProcessPredictor

        return InProcessPredictor(args.model, signature)
    if args.rest:
        from serving.rest_client import RestPredictClient

        return RestPredictClient(args.rest, args.model_name, signature, timeout_seconds=args.timeout)
    from serving.client import PredictClient

    return PredictClient(args.server, args.model_name, signature, timeout_seconds=args.timeout)
