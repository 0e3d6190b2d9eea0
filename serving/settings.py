"""`catdog serve`'s settings, declared once with their defaults, help and checks (components/settings_core.py)."""

import dataclasses
import re

from components import contract, limits
from components.settings_core import Checked, SettingsError, between, plain_name, setting

DEFAULT_PORT = 8500  # TF Serving's gRPC port
DEFAULT_REST_PORT = 8501  # TF Serving's REST port
_LABEL = re.compile(r"([^=]+)=(\d+)")
MIN_POLL_SECONDS = 0.1  # a shorter --model-config-file poll only spins
# tensorflow_model_server's flags (model_servers/main.cc) that have no counterpart here: `catdog serve` refuses
# them by name rather than run differently from what the command line asks.
TF_SERVING_FLAGS_NOT_SUPPORTED = {
    "--grpc_socket_path": "gRPC listens on --host:--port only",
    "--rest_api_num_threads": f"the REST server runs {limits.SERVER_THREADS} request threads",
    "--rest_api_timeout_in_ms": "requests have no server-side deadline",
    "--rest_api_enable_cors_support": "CORS preflights are answered, without CORS headers",
    "--ssl_config_file": "give the PEM files as --ssl-cert, --ssl-key and --ssl-client-ca",
    "--num_load_threads": "versions load one at a time",
    "--num_unload_threads": "versions unload one at a time",
    "--max_num_load_retries": "a failed load is retried when its folder changes, with a backoff",
    "--load_retry_interval_micros": "a failed load is retried when its folder changes, with a backoff",
    "--flush_filesystem_caches": "there are no file system caches to flush",
    "--tensorflow_session_parallelism": "TensorFlow picks its thread pools",
    "--tensorflow_intra_op_parallelism": "TensorFlow picks its thread pools",
    "--tensorflow_inter_op_parallelism": "TensorFlow picks its thread pools",
    "--use_alts_credentials": "TLS is the only secure transport",
    "--platform_config_file": "the platform is tensorflow; batching is --enable-batching",
    "--saved_model_tags": "the serve tag is loaded",
    "--grpc_channel_arguments": "only the message size is set (--max-message-mb)",
    "--grpc_max_threads": f"the gRPC server runs {limits.SERVER_THREADS} request threads",
    "--enable_model_warmup": "warmup records are always replayed",
    "--num_request_iterations_for_warmup": "each warmup record is replayed once",
    "--version": "see `pip show catdog`",
    "--prefer_tflite_model": "SavedModels only",
    "--enable_profiler": "no profiler service",
    "--thread_pool_factory_config_file": "TensorFlow picks its thread pools",
    "--mixed_precision": "the model runs as exported",
    "--skip_initialize_tpu": "no TPU support",
    "--enable_grpc_healthcheck_service": "probe GetModelStatus or the REST status instead",
    "--enable_signature_method_name_check": "signature method names are not checked",
}


def port_number(value: int) -> str | None:
    """1-65535, or 0 to let the system pick (an out-of-range port would be silently wrapped by gRPC)."""
    return None if 0 <= value <= 65535 else "must be a port number from 1 to 65535 (0 picks a free one)"


def version_label(value: str) -> str | None:
    match = _LABEL.fullmatch(value)
    if not match:
        return "a label is NAME=VERSION with a version number"
    if int(match.group(2)) > limits.MAX_VERSION:
        return f"the version must be at most {limits.MAX_VERSION} (TF Serving's versions are int64)"
    return None


@dataclasses.dataclass(frozen=True)
class ServeSettings(Checked):
    """Where the model comes from, where the server listens, and what one request may carry."""

    GROUP = "serving"

    model_base_path: str = setting(
        "",
        "folder of numbered versions (default: runs/catdog/serving/<model name>)",
        group="model",
        aliases=("--model_base_path",),
    )
    model_name: str = setting(
        contract.MODEL_NAME,
        "the model's name in requests' model_spec and REST URLs",
        check=plain_name,
        group="model",
        aliases=("--model_name",),
    )
    model_config_file: str = setting(
        "",
        "TF Serving's ModelServerConfig text file (e.g. serving/deploy/"
        "models.config): several models, each with its version policy and labels; "
        "instead of --model-base-path and --model-name",
        metavar="FILE",
        group="model",
        aliases=("--model_config_file",),
    )
    model_config_file_poll_wait_seconds: float = setting(
        0.0,
        "re-read --model-config-file this often; 0, TF Serving's default, never",
        metavar="SECONDS",
        check=lambda v: (
            None
            if v == 0 or MIN_POLL_SECONDS <= v <= limits.MAX_WAIT_SECONDS
            else f"must be 0 or between {MIN_POLL_SECONDS} and {limits.MAX_WAIT_SECONDS}"
        ),
        group="model",
        aliases=("--model_config_file_poll_wait_seconds",),
    )
    poll_seconds: float = setting(
        2.0,
        "how often to look for new versions, in seconds",
        group="model",
        check=between(
            limits.MIN_POLL_SECONDS,
            limits.MAX_WAIT_SECONDS,
            "TF Serving polls at most once a second: its file_system_poll_wait_seconds is whole seconds",
        ),
        aliases=("--file_system_poll_wait_seconds",),
    )
    num_versions: int = setting(
        1, "how many of the newest versions to keep loaded", check=between(1, limits.MAX_LOADED_VERSIONS), group="model"
    )
    label: tuple[str, ...] = setting(
        (),
        "name a version for requests' version_label, e.g. stable=1700000000 (kept loaded); repeatable",
        metavar="NAME=VERSION",
        check=lambda labels: next((f"{v}: {version_label(v)}" for v in labels if version_label(v)), None),
        group="model",
    )
    host: str = setting("127.0.0.1", "address to listen on; 0.0.0.0 exposes it to the network", group="network")
    port: int = setting(DEFAULT_PORT, "gRPC port; 0 picks a free one", check=port_number, group="network")
    rest_port: int = setting(
        DEFAULT_REST_PORT,
        "REST port (TF Serving's JSON API and /monitoring/prometheus/metrics); 0 picks a free one",
        check=port_number,
        group="network",
        aliases=("--rest_api_port",),
    )
    monitoring_config_file: str = setting(
        "",
        "TF Serving's MonitoringConfig text file (e.g. serving/deploy/"
        "monitoring.config); the metrics are always served, at its default "
        "path",
        metavar="FILE",
        group="network",
        aliases=("--monitoring_config_file",),
    )
    enable_batching: bool = setting(
        False,
        "merge concurrent requests into one model call, as TF Serving's --enable_batching does",
        group="batching",
        aliases=("--enable_batching",),
    )
    batching_parameters_file: str = setting(
        "",
        "TF Serving's batching_parameters.txt (e.g. serving/deploy/); without "
        "it, TF Serving's default batching parameters",
        metavar="FILE",
        group="batching",
        aliases=("--batching_parameters_file",),
    )
    max_message_mb: int = setting(
        limits.MAX_MESSAGE_BYTES // 2**20,
        "largest request or response, in MiB",
        check=between(1, limits.MAX_MESSAGE_MB, "gRPC's message sizes are int32"),
        group="limits",
    )
    max_images_per_request: int = setting(
        limits.MAX_IMAGES_PER_REQUEST,
        "images one Predict request may carry; more get INVALID_ARGUMENT",
        check=between(1, limits.MAX_BATCH_SIZE),
        group="limits",
    )
    ssl_cert: str = setting("", "server certificate (PEM): serve over TLS only", metavar="PEM", group="TLS")
    ssl_key: str = setting("", "the server certificate's private key (PEM)", metavar="PEM", group="TLS")
    ssl_client_ca: str = setting(
        "", "require client certificates signed by this CA (PEM): mutual TLS", metavar="PEM", group="TLS"
    )

    def __post_init__(self):
        super().__post_init__()
        if bool(self.ssl_cert) != bool(self.ssl_key) or (self.ssl_client_ca and not self.ssl_cert):
            raise SettingsError("TLS needs both --ssl-cert and --ssl-key (and --ssl-client-ca only with them)")
        if self.model_config_file and self.model_base_path:
            raise SettingsError("give --model-config-file or --model-base-path, not both")

    @property
    def labels(self) -> dict[str, int]:
        return {name: int(version) for name, version in (_LABEL.fullmatch(v).groups() for v in self.label)}

    @property
    def max_message_bytes(self) -> int:
        return self.max_message_mb * 2**20
