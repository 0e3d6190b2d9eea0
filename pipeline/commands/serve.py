"""`catdog serve`: the pushed model over TF Serving's gRPC API, reloading new versions as they are pushed."""

import argparse
import os

from components.errors import CatdogError
from pipeline import configs

DEFAULT_PORT = 8500
DEFAULT_MAX_MESSAGE_MB = 64


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, got {text!r}")
    return int(text)


def _label(text: str):
    """NAME=VERSION, e.g. stable=1700000000."""
    name, _, version = text.partition("=")
    if not name or not version.isdigit():
        raise argparse.ArgumentTypeError(f"a label is NAME=VERSION with a version number, got {text!r}")
    return name, int(version)


def add_parser(sub) -> None:
    p = sub.add_parser("serve", help="serve the pushed model over gRPC (TF Serving's Predict API)")
    p.add_argument("--model-base-path", default=None,
                   help=f"folder of numbered versions (default: {configs.OUTPUT_DIR}/{configs.SERVING_SUBDIR}/<name>)")
    p.add_argument("--model-name", default=configs.MODEL_NAME)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on; 0.0.0.0 exposes it to the network")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help="gRPC port; 0 picks a free one")
    p.add_argument("--poll-seconds", type=float, default=2.0, help="how often to look for new versions")
    p.add_argument("--num-versions", type=_positive, default=1, help="how many of the newest versions to keep loaded")
    p.add_argument("--label", type=_label, action="append", default=[], metavar="NAME=VERSION",
                   help="name a version for requests' version_label, e.g. stable=1700000000 (kept loaded)")
    p.add_argument("--max-message-mb", type=int, default=DEFAULT_MAX_MESSAGE_MB, help="largest request or response")
    p.set_defaults(func=_serve)


def _serve(args) -> int:
    import logging

    base_path = args.model_base_path or os.path.join(configs.OUTPUT_DIR, configs.SERVING_SUBDIR, args.model_name)
    if not os.path.isdir(base_path):
        raise CatdogError(f"model base path {base_path} is not a directory; run `catdog run` or pass --model-base-path")

    from serving.grpc_server import start_server
    from serving.model_registry import ModelRegistry

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    registry = ModelRegistry(args.model_name, base_path, num_versions=args.num_versions, labels=dict(args.label))
    try:  # the port first: a busy one fails at once, not after the model loads
        server, port = start_server(registry, args.host, args.port, args.max_message_mb * 1024 * 1024)
    except OSError as e:
        raise CatdogError(str(e)) from e
    registry.start(args.poll_seconds)
    # Tests and scripts read the port from this line when they passed --port 0.
    print(f"serving {args.model_name} from {base_path} on {args.host}:{port} (gRPC)", flush=True)
    try:
        server.wait_for_termination()
    finally:
        server.stop(grace=5)
        registry.stop()
    return 0
