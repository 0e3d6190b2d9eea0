"""`catdog serve`: the pushed model (or the models of a TF Serving --model_config_file) over TF Serving's
gRPC and REST APIs, reloading new versions as they are pushed. TF Serving's own flag spellings work too."""

import argparse
import os

from components import settings_core
from components.errors import CatdogError
from pipeline import configs
from serving.settings import TF_SERVING_FLAGS_NOT_SUPPORTED, ServeSettings


class _NotSupported(argparse.Action):
    """A tensorflow_model_server flag with no counterpart here: refused by name, with what to do instead."""

    def __init__(self, option_strings, dest, **kwargs):
        super().__init__(option_strings, dest, nargs="?", help=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        raise argparse.ArgumentError(
            self,
            f"tensorflow_model_server's flag, not supported by catdog serve: "
            f"{TF_SERVING_FLAGS_NOT_SUPPORTED[option_string]}",
        )


def add_parser(sub) -> None:
    parser = settings_core.add_command(
        sub, "serve", "serve the pushed model over gRPC and REST (TF Serving's APIs)", ServeSettings, _serve
    )
    for flag in TF_SERVING_FLAGS_NOT_SUPPORTED:
        parser.add_argument(flag, action=_NotSupported, dest=argparse.SUPPRESS)


def _model_config(args: ServeSettings):
    """The ModelServerConfig to serve: the file's, or one model from --model-name and --model-base-path."""
    if args.model_config_file:
        from serving.server.model_config import read_model_config

        return read_model_config(args.model_config_file)
    base_path = args.model_base_path or os.path.join(configs.OUTPUT_DIR, configs.SERVING_SUBDIR, args.model_name)
    if not os.path.isdir(base_path):
        raise CatdogError(f"model base path {base_path} is not a directory; run `catdog run` or pass --model-base-path")
    _check_not_a_run_folder(base_path, args.model_name)  # before the slow imports: the mistake shows at once
    from serving.server.model_config import single_model_config

    config = single_model_config(args.model_name, base_path)
    model = config.model_config_list.config[0]
    model.model_version_policy.latest.num_versions = args.num_versions
    model.version_labels.update(args.labels)
    return config


def _watch_config_file(path: str, seconds: float, models, stop) -> None:
    """model_servers/server.cc PollFilesystemAndReloadConfig: a file that no longer reads or is refused is
    logged, and the config already serving serves on."""
    import logging

    from serving.server.model_config import read_model_config
    from serving.status import ServingError

    log = logging.getLogger(__name__)
    while not stop.wait(seconds):
        try:
            models.apply(read_model_config(path))
        except (CatdogError, ServingError) as e:
            log.error("not reloading %s, the models already loaded serve on: %s", path, e)


def _check_not_a_run_folder(base_path: str, model_name: str) -> None:
    """A run's --output folder, or its serving/ folder, given for the model's folder of versions: name the one meant."""
    for meant in (os.path.join(base_path, configs.SERVING_SUBDIR, model_name), os.path.join(base_path, model_name)):
        if os.path.isdir(meant) and not any(name.isdigit() for name in os.listdir(base_path)):
            raise CatdogError(
                f"model base path {base_path} holds no versions, {meant} is where a run pushes them: "
                f"--model-base-path {meant}"
            )


def _serve(args) -> int:
    import logging
    import threading

    args = settings_core.from_args(ServeSettings, args)
    config = _model_config(args)

    from serving import tls
    from serving.server.batching import BatchingOptions, BatchScheduler, read_batching_parameters
    from serving.server.grpc_server import start_server
    from serving.server.metrics import ServingMetrics, read_monitoring_config
    from serving.server.model_config import ServedModels
    from serving.server.predict_core import Predictor
    from serving.server.rest_server import RestServer
    from serving.status import ServingError

    if args.monitoring_config_file:
        read_monitoring_config(args.monitoring_config_file)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    models = ServedModels(args.poll_seconds)
    metrics = ServingMetrics(models)
    max_message_bytes = args.max_message_bytes
    batching = None
    try:
        if args.enable_batching:
            options = (
                read_batching_parameters(args.batching_parameters_file)
                if args.batching_parameters_file
                else BatchingOptions()
            )
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
        threading.Thread(
            target=_watch_config_file,
            name="model-config-watcher",
            daemon=True,
            args=(args.model_config_file, args.model_config_file_poll_wait_seconds, models, stop),
        ).start()
    served = config.model_config_list.config
    # Tests and scripts read the ports from this line when they passed port 0.
    tls_note = " over TLS" + (", client certificates required" if args.ssl_client_ca else "") if credentials else ""
    scheme = "https" if ssl_context else "http"
    print(
        f"serving {', '.join(m.name for m in served)} from {', '.join(m.base_path for m in served)} on "
        f"{args.host}:{port} (gRPC{tls_note}) and {scheme}://{args.host}:{rest_port} (REST{tls_note})",
        flush=True,
    )
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
