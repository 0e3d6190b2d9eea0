"""`catdog serve`: the pushed model over TF Serving's gRPC and REST APIs, reloading new versions as they
are pushed."""

import argparse
import os

from components import limits
from components.errors import CatdogError
from components.names import plain_model_name
from pipeline import configs

DEFAULT_PORT = 8500
DEFAULT_REST_PORT = 8501
DEFAULT_MAX_MESSAGE_MB = 64


def positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, got {text!r}")
    return int(text)


def port_number(text: str) -> int:
    """1-65535, or 0 to let the system pick (an out-of-range port would be silently wrapped by gRPC)."""
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"must be a port number from 1 to 65535 (0 picks a free one), got {text!r}")
    return int(text)


def positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value > 0 or value == float("inf"):  # not > 0 also catches nan
        raise argparse.ArgumentTypeError(f"must be a number of seconds above 0, got {text!r}")
    return value


def non_negative_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number of seconds, 0 or more, got {text!r}")
    return value


def model_name(text: str) -> str:
    try:
        return plain_model_name(text)
    except CatdogError as e:
        raise argparse.ArgumentTypeError(str(e)) from e


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
    p.add_argument("--model_config_file", default=None, metavar="FILE",
                   help="TF Serving's ModelServerConfig text file (e.g. serving/deploy/models.config): several "
                        "models, each with its version policy and labels; instead of --model-base-path")
    p.add_argument("--model_config_file_poll_wait_seconds", type=non_negative_seconds, default=0.0,
                   metavar="SECONDS", help="re-read --model_config_file this often (0: never, TF Serving's default)")
    p.add_argument("--model-name", type=model_name, default=configs.MODEL_NAME)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on; 0.0.0.0 exposes it to the network")
    p.add_argument("--port", type=port_number, default=DEFAULT_PORT, help="gRPC port; 0 picks a free one")
    p.add_argument("--rest-port", type=port_number, default=DEFAULT_REST_PORT,
                   help="REST port (TF Serving's JSON API and /monitoring/prometheus/metrics); 0 picks a free one")
    p.add_argument("--enable-batching", action="store_true",
                   help="merge concurrent requests into one model call, as TF Serving's --enable_batching")
    p.add_argument("--batching-parameters-file", default=None, metavar="FILE",
                   help="TF Serving's batching_parameters.txt (e.g. serving/deploy/); TF Serving's defaults without")
    p.add_argument("--poll-seconds", type=positive_seconds, default=2.0, help="how often to look for new versions")
    p.add_argument("--num-versions", type=positive_int, default=1, help="how many of the newest versions to keep loaded")
    p.add_argument("--label", type=_label, action="append", default=[], metavar="NAME=VERSION",
                   help="name a version for requests' version_label, e.g. stable=1700000000 (kept loaded)")
    p.add_argument("--max-message-mb", type=positive_int, default=DEFAULT_MAX_MESSAGE_MB, help="largest request or response")
    p.add_argument("--max-images-per-request", type=positive_int, default=limits.MAX_IMAGES_PER_REQUEST,
                   help="images one Predict request may carry; more get INVALID_ARGUMENT")
    p.add_argument("--ssl-cert", default="", metavar="PEM", help="server certificate: serve over TLS only")
    p.add_argument("--ssl-key", default="", metavar="PEM", help="the server certificate's private key")
    p.add_argument("--ssl-client-ca", default="", metavar="PEM",
                   help="require client certificates signed by this CA (mutual TLS)")
    p.set_defaults(func=_serve)


def _model_config(args):
    """The ModelServerConfig to serve: the file's, or one model from --model-name and --model-base-path."""
    from serving.model_config import read_model_config, single_model_config

    if args.model_config_file:
        if args.model_base_path:
            raise CatdogError("give --model_config_file or --model-base-path, not both")
        return read_model_config(args.model_config_file)
    base_path = args.model_base_path or os.path.join(configs.OUTPUT_DIR, configs.SERVING_SUBDIR, args.model_name)
    if not os.path.isdir(base_path):
        raise CatdogError(f"model base path {base_path} is not a directory; run `catdog run` or pass --model-base-path")
    config = single_model_config(args.model_name, base_path)
    model = config.model_config_list.config[0]
    model.model_version_policy.latest.num_versions = args.num_versions
    model.version_labels.update(dict(args.label))
    return config


def _watch_config_file(path: str, seconds: float, models, stop) -> None:
    """model_servers/server.cc PollFilesystemAndReloadConfig: a file that no longer reads or is refused is
    logged, and the config already serving serves on."""
    import logging

    from serving.model_config import read_model_config
    from serving.status import ServingError

    log = logging.getLogger(__name__)
    while not stop.wait(seconds):
        try:
            models.apply(read_model_config(path))
        except (CatdogError, ServingError) as e:
            log.error("not reloading %s, the models already loaded serve on: %s", path, e)


def _serve(args) -> int:
    import logging
    import threading

    config = _model_config(args)
    if bool(args.ssl_cert) != bool(args.ssl_key) or (args.ssl_client_ca and not args.ssl_cert):
        raise CatdogError("TLS needs both --ssl-cert and --ssl-key (and --ssl-client-ca only with them)")

    from serving import tls
    from serving.batching import BatchingOptions, BatchScheduler, read_batching_parameters
    from serving.grpc_server import start_server
    from serving.metrics import ServingMetrics
    from serving.model_config import ServedModels
    from serving.predict_core import Predictor
    from serving.rest_server import RestServer
    from serving.status import ServingError

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    models = ServedModels(args.poll_seconds)
    metrics = ServingMetrics(models)
    max_message_bytes = args.max_message_mb * 1024 * 1024
    batching = None
    try:
        if args.enable_batching:
            options = read_batching_parameters(args.batching_parameters_file) if args.batching_parameters_file \
                else BatchingOptions()
            batching = BatchScheduler(options, on_batch=metrics.record_batch)
        predictor = Predictor(models, batching, metrics, args.max_images_per_request)
        credentials = tls.server_credentials(args.ssl_cert, args.ssl_key, args.ssl_client_ca) if args.ssl_cert else None
        ssl_context = tls.server_ssl_context(args.ssl_cert, args.ssl_key, args.ssl_client_ca) if args.ssl_cert else None
        rest = RestServer(predictor, args.host, args.rest_port, max_message_bytes, ssl_context)
        # The ports before the models: a busy one fails at once, not after the load.
        server, port = start_server(models, args.host, args.port, max_message_bytes, predictor, credentials)
        try:
            rest_port = rest.start()
        except OSError:
            server.stop(grace=None)
            raise
    except OSError as e:
        raise CatdogError(str(e)) from e
    try:
        models.apply(config)
    except ServingError as e:
        server.stop(grace=None)
        rest.stop()
        where = f"{args.model_config_file}: " if args.model_config_file else ""
        raise CatdogError(f"{where}{e.message}") from e
    stop = threading.Event()
    if args.model_config_file and args.model_config_file_poll_wait_seconds > 0:
        threading.Thread(target=_watch_config_file, name="model-config-watcher", daemon=True,
                         args=(args.model_config_file, args.model_config_file_poll_wait_seconds, models, stop)).start()
    served = config.model_config_list.config
    names = ", ".join(model.name for model in served)
    paths = ", ".join(model.base_path for model in served)
    # Tests and scripts read the ports from this line when they passed port 0.
    tls_note = " over TLS" + (", client certificates required" if args.ssl_client_ca else "") if credentials else ""
    scheme = "https" if ssl_context else "http"
    print(f"serving {names} from {paths} on {args.host}:{port} (gRPC{tls_note}) "
          f"and {scheme}://{args.host}:{rest_port} (REST{tls_note})", flush=True)
    try:
        server.wait_for_termination()
    finally:
        stop.set()
        server.stop(grace=5)
        rest.stop()
        models.stop()
        if batching is not None:
            batching.stop()
    return 0
