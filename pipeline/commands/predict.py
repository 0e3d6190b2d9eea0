"""`catdog predict`: classify image files with a served model (gRPC or REST) or an exported model folder."""

import sys

from components.errors import CatdogError
from pipeline import configs
from pipeline.commands.serve import positive_seconds

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
    p.add_argument("--timeout", type=positive_seconds, default=30.0, help="seconds to wait for the server")
    p.add_argument("--ssl-ca", default="", metavar="PEM",
                   help="talk TLS to --server, checking its certificate against this CA (the server's --ssl-cert "
                        "when self-signed)")
    p.add_argument("--ssl-cert", default="", metavar="PEM", help="client certificate, for a server that asks (mTLS)")
    p.add_argument("--ssl-key", default="", metavar="PEM", help="the client certificate's private key")
    p.add_argument("--json", action="store_true", help="print a JSON list of {file, class_name, probability, in_distribution, "
                                                       "ood_score}")
    p.set_defaults(func=_predict)


# Exit codes: 0 every file classified, 1 some files failed (the others are printed), 2 nothing could run.
SOME_FAILED = 1


def neither_column(result: dict) -> str:
    """A last column for an image the model finds like neither class (components/ood.py), with its score."""
    return "" if result.get("in_distribution", True) else f"\tneither (ood_score {result['ood_score']:.1f})"


def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise CatdogError(f"cannot read image file: {e.strerror or e}") from e


def _predict(args) -> int:
    import json

    images, failures = [], []  # (path, bytes): a file named twice is classified twice
    for path in args.images:  # before the slow imports, so a typo shows at once
        try:
            images.append((path, _read(path)))
        except CatdogError as e:
            failures.append((path, str(e)))
    results, failed = _classify(args, images) if images else ([], [])  # the server or model failing: no file
    failures += failed
    if args.json:
        print(json.dumps(results + [{"file": path, "error": reason} for path, reason in failures], indent=2))
    else:
        for r in results:
            print(f"{r['file']}\t{r['class_name']}\t{r['probability']:.6f}{neither_column(r)}")
    for path, reason in failures:
        print(f"catdog: error: {path}: {reason}", file=sys.stderr)
    if failures:
        print(f"catdog: {len(failures)} of {len(args.images)} files not classified", file=sys.stderr)
        return SOME_FAILED
    return 0


def _classify(args, images):
    """(results, [(file, reason)]): a file the model refuses is listed, the others are still classified.
    An error that is not about one file (server down, no such model) ends it all."""
    from components import exporter
    from serving.status import ServingError

    try:
        predictor = _predictor(args, args.signature or exporter.IMAGE_BYTES_SIGNATURE)
    except ValueError as e:  # a signature that does not classify images
        raise CatdogError(str(e)) from e
    results, failures = [], []
    for path, image in images:
        # One request a file, so the error names a file the model cannot decode.
        try:
            (prediction,) = predictor.predict([image])
        except ServingError as e:
            if not _about_the_file(e):
                raise
            failures.append((path, str(e)))
            continue
        results.append({"file": path, **prediction})
    return results, failures


def _about_the_file(error) -> bool:
    import grpc

    return error.code in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.RESOURCE_EXHAUSTED)


def _predictor(args, signature: str):
    if args.model:
        from serving.in_process import InProcessPredictor

        return InProcessPredictor(args.model, signature)
    from serving import tls

    if args.rest:
        from serving.rest_client import RestPredictClient

        verify, cert = tls.requests_options(args.ssl_ca, args.ssl_cert, args.ssl_key)
        return RestPredictClient(args.rest, args.model_name, signature, timeout_seconds=args.timeout,
                                 verify=verify, cert=cert)
    from serving.client import PredictClient

    credentials = tls.channel_credentials(args.ssl_ca, args.ssl_cert, args.ssl_key)
    return PredictClient(args.server, args.model_name, signature, timeout_seconds=args.timeout, credentials=credentials)
