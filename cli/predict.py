"""`catdog predict`: classify image files with a served model (gRPC or REST) or an exported model folder."""

import dataclasses
import sys

from components import contract, files, limits, settings_core
from components.errors import CatdogError
from components.settings_core import SettingsError, above_up_to, setting
from serving.settings import DEFAULT_PORT, DEFAULT_REST_PORT

DEFAULT_SERVER = f"127.0.0.1:{DEFAULT_PORT}"


@dataclasses.dataclass(frozen=True)
class PredictSettings(settings_core.Checked):
    """Which images, and which model answers: a gRPC server (the default), a REST API, or a model folder."""

    GROUP = "prediction"

    images: tuple[str, ...] = setting((), "JPEG, PNG, GIF or BMP files", positional=True, metavar="IMAGE")
    server: str = setting("", f"HOST:PORT of a gRPC Predict server (default: {DEFAULT_SERVER})", group="model")
    rest: str = setting(
        "", "http(s)://HOST:PORT of a TF Serving REST API (catdog serve's --rest-port)", metavar="URL", group="model"
    )
    model: str = setting("", "an exported model folder: no server needed", metavar="DIR", group="model")
    model_name: str = setting(contract.MODEL_NAME, "the model's name on the server", group="model")
    signature: str = setting(
        contract.IMAGE_BYTES_SIGNATURE,
        f"signature to call: the image-bytes one or the tf.Example one ({contract.TF_EXAMPLE_SIGNATURE})",
        choices=tuple(contract.SIGNATURE_INPUTS),
        group="model",
    )
    timeout: float = setting(30.0, "seconds to wait for the server", check=above_up_to(0, limits.MAX_WAIT_SECONDS))
    ssl_ca: str = setting(
        "",
        "talk TLS to --server or --rest, checking its certificate against this CA (the "
        "server's --ssl-cert when self-signed)",
        metavar="PEM",
        group="TLS",
    )
    ssl_cert: str = setting("", "client certificate, for a server that asks (mutual TLS)", metavar="PEM", group="TLS")
    ssl_key: str = setting("", "the client certificate's private key", metavar="PEM", group="TLS")
    json: bool = setting(
        False,
        "print a JSON list of {file, class_name, class_id, probability (of that class), "
        "probabilities (both, by class id), in_distribution, ood_score}",
    )

    def __post_init__(self):
        super().__post_init__()
        if sum(map(bool, (self.server, self.rest, self.model))) > 1:
            raise SettingsError("give one of --server, --rest and --model")

    @property
    def target(self) -> str:
        return self.server or DEFAULT_SERVER


def add_parser(sub) -> None:
    settings_core.add_command(
        sub,
        "predict",
        "classify image files with `catdog serve`, TF Serving, or a model folder",
        PredictSettings,
        _predict,
    )


# Exit codes: 0 every file classified, 1 some files failed (the others are printed), 2 nothing could run.
SOME_FAILED = 1


def _read(path: str) -> bytes:
    try:
        return files.read_bytes(path)
    except files.FileRefused as e:
        raise CatdogError(f"cannot read image file: {e.reason}") from e


def _predict(args) -> int:
    import json

    from insight import predictions

    args = settings_core.from_args(PredictSettings, args)
    images, failures = [], []  # (path, bytes): a file named twice is classified twice
    for path in args.images:  # before the slow imports, so a typo shows at once
        try:
            images.append((path, _read(path)))
        except CatdogError as e:
            failures.append((path, str(e)))
    results, failed = _classify(args, images) if images else ([], [])  # the server or model failing: no file
    failures += failed
    if args.json:
        rows = [predictions.json_row(r) for r in results]
        print(json.dumps(rows + [{"file": path, "error": reason} for path, reason in failures], indent=2))
    elif results:
        print(predictions.table(results))
    for path, reason in failures:
        print(f"catdog: error: {path}: {reason}", file=sys.stderr)
    if failures:
        print(f"catdog: {len(failures)} of {len(args.images)} files not classified", file=sys.stderr)
        return SOME_FAILED
    return 0


def _classify(args, images):
    """(results, [(file, reason)]): a file the model refuses is listed, the others are still classified.
    An error that is not about one file (server down, no such model) ends it all."""
    import grpc

    from serving.status import ServingError

    predictor = _predictor(args, args.signature)
    results, failures = [], []
    for path, image in images:
        # One request a file, so the error names a file the model cannot decode.
        try:
            (prediction,) = predictor.predict([image])
        except ServingError as e:
            if e.code == grpc.StatusCode.UNAVAILABLE and not args.model:
                raise _no_server(args, e) from e
            if not _about_the_file(e):
                raise
            failures.append((path, str(e)))
            continue
        results.append({"file": path, **prediction})
    return results, failures


def _no_server(args, error) -> CatdogError:
    address, flag = (args.rest, "--rest URL") if args.rest else (args.target, "--server HOST:PORT")
    return CatdogError(
        f"no server answered at {address} ({error.message}); start one with `catdog serve` (gRPC on port "
        f"{DEFAULT_PORT}, REST on {DEFAULT_REST_PORT}), give {flag} of a running one, or classify without a "
        "server: --model DIR"
    )


def _about_the_file(error) -> bool:
    import grpc

    return error.code in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.RESOURCE_EXHAUSTED)


def _predictor(args, signature: str):
    if args.model:
        from serving.in_process import InProcessPredictor

        return InProcessPredictor(args.model, signature)
    from serving import tls

    if args.rest:
        from serving.client.rest_client import RestPredictClient

        verify, cert = tls.requests_options(args.ssl_ca, args.ssl_cert, args.ssl_key)
        return RestPredictClient(
            args.rest, args.model_name, signature, timeout_seconds=args.timeout, verify=verify, cert=cert
        )
    from serving.client.grpc_client import PredictClient

    credentials = tls.channel_credentials(args.ssl_ca, args.ssl_cert, args.ssl_key)
    return PredictClient(args.target, args.model_name, signature, timeout_seconds=args.timeout, credentials=credentials)
