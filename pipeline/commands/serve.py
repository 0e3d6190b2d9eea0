"""`catdog serve`: the pushed model over TF Serving's gRPC and REST APIs, reloading new versions as they
are pushed."""

import argparse
import os

from components.errors import CatdogError
from pipeline import configs

DEFAULT_PORT = 8500
DEFAULT_REST_PORT = 8501
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
    p = sub.add_parser("serve", help="serve the pushed model over gRPC and REST (TF Serving's APIs)")
    p.add_argument("--model-base-path", default=None,
                   help=f"folder of numbered versions (default: {configs.OUTPUT_DIR}/{configs.SERVING_SUBDIR}/<name>)")
    p.add_argument("--model-name", default=configs.MODEL_NAME)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on; 0.0.0.0 exposes it to the network")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help="gRPC port; 0 picks a free one")
    p.add_argument("--rest-port", type=int, default=DEFAULT_REST_PORT,
                   help="REST port (TF Serving's JSON API and /monitoring/prometheus/metrics); 0 picks a free one")
    p.add_argument("--enable-batching", action="store_true",
                   help="merge concurrent requests into one model call, as TF Serving's --enable_batching")
    p.add_argument("--batching-parameters-file", default=None, metavar="FILE",
                   help="TF Serving's batching_parameters.txt (e.g. serving/deploy/); TF Serving's defaults without")
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

    from serving.batching import BatchingOptions, BatchScheduler, read_batching_parameters
    from serving.grpc_server import start_server
    from serving.metrics import ServingMetrics
    from serving.model_registry import ModelRegistry
    from serving.predict_core import Predictor
    from serving.rest_server import RestServer

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    registry = ModelRegistry(args.model_name, base_path, num_versions=args.num_versions, labels=dict(args.label))
    metrics = ServingMetrics(registry)
    max_message_bytes = args.max_message_mb * 1024 * 1024
    batching = None
    try:
        if args.enable_batching:
            options = read_batching_parameters(args.batching_parameters_file) if args.batching_parameters_file \
                else BatchingOptions()
            batching = BatchScheduler(options, on_batch=metrics.record_batch)
        predictor = Predictor(registry, batching, metrics)
        rest = RestServer(predictor, args.host, args.rest_port, max_message_bytes)
        # The ports before the model: a busy one fails at once, not after the load.
        server, port = start_server(registry, args.host, args.port, max_message_bytes, predictor)
        try:
            rest_port = rest.start()
        except OSError:
            server.stop(grace=None)
            raise
    except OSError as e:
        raise CatdogError(str(e)) from e
    registry.start(args.poll_seconds)
    # Tests and scripts read the ports from this line when they passed port 0.
    print(f"serving {args.model_name} from {base_path} on {args.host}:{port} (gRPC) "
          f"and http://{args.host}:{rest_port} (REST)", flush=True)
    try:
        server.wait_for_termination()
    finally:
        server.stop(grace=5)
        rest.stop()
        registry.stop()
        if batching is not None:
            batching.stop()
    return 0
