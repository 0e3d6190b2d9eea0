"""TLS for the gRPC and REST servers and clients, from PEM files as TF Serving takes them (its ssl_config_file
holds the same three: server key, server certificate, and a client CA that turns on mutual TLS)."""

import ssl
from typing import Optional, Tuple, Union

import grpc

from components.errors import CatdogError


def _read_pem(path: str, what: str) -> bytes:
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise CatdogError(f"{path}: cannot read the {what}: {e.strerror or e}") from e
    if b"-----BEGIN " not in data:
        raise CatdogError(f"{path}: the {what} is not a PEM file (no -----BEGIN line)")
    return data


def server_credentials(cert_file: str, key_file: str, client_ca_file: str = "") -> grpc.ServerCredentials:
    """With client_ca_file, clients must present a certificate that CA signed (mutual TLS)."""
    pair = (_read_pem(key_file, "private key"), _read_pem(cert_file, "certificate"))
    client_ca = _read_pem(client_ca_file, "client CA certificate") if client_ca_file else None
    return grpc.ssl_server_credentials([pair], root_certificates=client_ca, require_client_auth=client_ca is not None)


def channel_credentials(
    ca_file: str = "", cert_file: str = "", key_file: str = ""
) -> Optional[grpc.ChannelCredentials]:
    """None when no file is given (plain text). Without ca_file the system's CAs check the server;
    cert_file and key_file identify the client to a server that asks (mutual TLS)."""
    if not (ca_file or cert_file or key_file):
        return None
    if bool(cert_file) != bool(key_file):
        raise CatdogError("a client certificate needs its key: give both --ssl-cert and --ssl-key, or neither")
    return grpc.ssl_channel_credentials(
        root_certificates=_read_pem(ca_file, "CA certificate") if ca_file else None,
        private_key=_read_pem(key_file, "private key") if key_file else None,
        certificate_chain=_read_pem(cert_file, "certificate") if cert_file else None,
    )


def server_ssl_context(cert_file: str, key_file: str, client_ca_file: str = "") -> ssl.SSLContext:
    """The REST server's side of server_credentials: the same files, the same mutual TLS with a client CA."""
    for path, what in ((key_file, "private key"), (cert_file, "certificate")) + (
            ((client_ca_file, "client CA certificate"),) if client_ca_file else ()):
        _read_pem(path, what)  # the same one-line errors as gRPC's
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(cert_file, key_file)
        if client_ca_file:
            context.load_verify_locations(client_ca_file)
            context.verify_mode = ssl.CERT_REQUIRED
    except ssl.SSLError as e:
        raise CatdogError(f"{cert_file}, {key_file}: not a certificate and its key: {e}") from e
    return context


def requests_options(ca_file: str = "", cert_file: str = "", key_file: str = "") -> Tuple[Union[str, bool], Optional[Tuple[str, str]]]:
    """(verify, cert) for a requests session: the REST client's side of channel_credentials."""
    if bool(cert_file) != bool(key_file):
        raise CatdogError("a client certificate needs its key: give both --ssl-cert and --ssl-key, or neither")
    return (ca_file or True), ((cert_file, key_file) if cert_file else None)
