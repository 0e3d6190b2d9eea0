"""`catdog serve`: the pushed model over TF Serving's gRPC and REST APIs, reloading new versions as they
are pushed."""

import os

from components import settings_core
from components.errors import CatdogError
from pipeline import configs
from serving.settings import ServeSettings


def add_parser(sub) -> None:
    settings_core.add_command(sub, "serve", "serve the pushed model over gRPC and REST (TF Serving's APIs)", ServeSettings, _serve)


def _serve(args) -> int:
    import logging

    args = settings_core.from_args(ServeSettings, args)
    base_path = args.model_base_path or os.path.join(configs.OUTPUT_DIR, configs.SERVING_SUBDIR, args.model_name)
    if not os.path.isdir(base_path):
        raise CatdogError(f"model base path {base_path} is not a directory; run `catdog run` or pass --model-base-path")

    from serving import tls
    from serving.server.batching import BatchingOptions, BatchScheduler, read_batching_parameters
    from serving.server.grpc_server import start_server
    from serving.server.metrics import ServingMetrics
    from serving.server.model_registry import ModelRegistry
    from serving.server.predict_core import Predictor
    from serving.server.rest_server import RestServer

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    registry = ModelRegistry(args.model_name, base_path, num_versions=args.num_versions, labels=args.labels)
    metrics = ServingMetrics(registry)
    max_message_bytes = args.max_message_bytes
    batching = None
    try:
        if args.enable_batching:
            options = read_batching_parameters(args.batching_parameters_file) if args.batching_parameters_file \
                else BatchingOptions()
            batching = BatchScheduler(options, on_batch=metrics.record_batch)
        predictor = Predictor(registry, batching, metrics, args.max_images_per_request)
        credentials = tls.server_credentials(args.ssl_cert, args.ssl_key, args.ssl_client_ca) if args.ssl_cert else None
        ssl_context = tls.server_ssl_context(args.ssl_cert, args.ssl_key, args.ssl_client_ca) if args.ssl_cert else None
        rest = RestServer(predictor, args.host, args.rest_port, max_message_bytes, ssl_context)
        # The ports before the model: a busy one fails at once, not after the load.
        server, port = start_server(registry, args.host, args.port, max_message_bytes, predictor, credentials)
        try:
            rest_port = rest.start()
        except OSError:
            server.stop(grace=None)
            raise
    except OSError as e:
        raise CatdogError(str(e)) from e
    registry.start(args.poll_seconds)
    # Tests and scripts read the ports from this line when they passed port 0.
    tls_note = " over TLS" + (", client certificates required" if args.ssl_client_ca else "") if credentials else ""
    scheme = "https" if ssl_context else "http"
    print(f"serving {args.model_name} from {base_path} on {args.host}:{port} (gRPC{tls_note}) "
          f"and {scheme}://{args.host}:{rest_port} (REST{tls_note})", flush=True)
    try:
        server.wait_for_termination()
    finally:
        server.stop(grace=5)
        rest.stop()
        registry.stop()
        if batching is not None:
            batching.stop()
    return 0
