"""`catdog serve`'s settings, declared once with their defaults, help and checks (components/settings_core.py)."""

import dataclasses
import re
from typing import Dict, Optional, Tuple

from components import contract, limits
from components.settings_core import Checked, SettingsError, at_least, between, plain_name, setting

DEFAULT_PORT = 8500  # TF Serving's gRPC port
DEFAULT_REST_PORT = 8501  # TF Serving's REST port
_LABEL = re.compile(r"([^=]+)=(\d+)")


def port_number(value: int) -> Optional[str]:
    """1-65535, or 0 to let the system pick (an out-of-range port would be silently wrapped by gRPC)."""
    return None if 0 <= value <= 65535 else "must be a port number from 1 to 65535 (0 picks a free one)"


def version_label(value: str) -> Optional[str]:
    return None if _LABEL.fullmatch(value) else "a label is NAME=VERSION with a version number"


@dataclasses.dataclass(frozen=True)
class ServeSettings(Checked):
    """Where the model comes from, where the server listens, and what one request may carry."""

    GROUP = "serving"

    model_base_path: str = setting("", "folder of numbered versions (default: runs/catdog/serving/<model name>)",
                                   group="model")
    model_name: str = setting(contract.MODEL_NAME, "the model's name in requests' model_spec and REST URLs", check=plain_name,
                              group="model")
    poll_seconds: float = setting(2.0, "how often to look for new versions", check=lambda v: None if v > 0 else
                                  "must be a number of seconds above 0", group="model")
    num_versions: int = setting(1, "how many of the newest versions to keep loaded", check=at_least(1), group="model")
    label: Tuple[str, ...] = setting((), "name a version for requests' version_label, e.g. stable=1700000000 (kept "
                                         "loaded); repeatable", metavar="NAME=VERSION", check=lambda labels: next(
                                             (f"{v}: {version_label(v)}" for v in labels if version_label(v)), None),
                                     group="model")
    host: str = setting("127.0.0.1", "address to listen on; 0.0.0.0 exposes it to the network", group="network")
    port: int = setting(DEFAULT_PORT, "gRPC port; 0 picks a free one", check=port_number, group="network")
    rest_port: int = setting(DEFAULT_REST_PORT, "REST port (TF Serving's JSON API and /monitoring/prometheus/metrics); "
                                                "0 picks a free one", check=port_number, group="network")
    enable_batching: bool = setting(False, "merge concurrent requests into one model call, as TF Serving's "
                                           "--enable_batching does", group="batching")
    batching_parameters_file: str = setting("", "TF Serving's batching_parameters.txt (e.g. serving/deploy/); without "
                                                "it, TF Serving's default batching parameters", metavar="FILE",
                                            group="batching")
    max_message_mb: int = setting(limits.MAX_MESSAGE_BYTES // 2**20, "largest request or response, in MiB",
                                  check=between(1, 2047), group="limits")
    max_images_per_request: int = setting(limits.MAX_IMAGES_PER_REQUEST, "images one Predict request may carry; more "
                                                                         "get INVALID_ARGUMENT", check=at_least(1),
                                          group="limits")
    ssl_cert: str = setting("", "server certificate (PEM): serve over TLS only", metavar="PEM", group="TLS")
    ssl_key: str = setting("", "the server certificate's private key (PEM)", metavar="PEM", group="TLS")
    ssl_client_ca: str = setting("", "require client certificates signed by this CA (PEM): mutual TLS", metavar="PEM",
                                 group="TLS")

    def __post_init__(self):
        super().__post_init__()
        if bool(self.ssl_cert) != bool(self.ssl_key) or (self.ssl_client_ca and not self.ssl_cert):
            raise SettingsError("TLS needs both --ssl-cert and --ssl-key (and --ssl-client-ca only with them)")

    @property
    def labels(self) -> Dict[str, int]:
        return {name: int(version) for name, version in (_LABEL.fullmatch(v).groups() for v in self.label)}

    @property
    def max_message_bytes(self) -> int:
        return self.max_message_mb * 2**20
