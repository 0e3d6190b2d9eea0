"""TLS for the gRPC and REST servers and clients, from PEM files as TF Serving takes them (its ssl_config_file
holds the same three: server key, server certificate, and a client CA that turns on mutual TLS)."""

import ssl

import grpc

from components import files
from components.errors import CatdogError


class _PassPhraseAsked(Exception):
    """OpenSSL asked for a key's pass phrase: without a callback it would prompt on the terminal."""


def _refuse_pass_phrase():
    raise _PassPhraseAsked()


def _read_pem(path: str, what: str) -> bytes:
    """A regular file's PEM text (a FIFO would hang the server before it binds)."""
    try:
        data = files.read_bytes(path)
    except files.FileRefused as e:
        raise CatdogError(f"{path}: cannot read the {what}: {e.reason}") from e
    if b"-----BEGIN " not in data:
        raise CatdogError(f"{path}: the {what} is not a PEM file (no -----BEGIN line)")
    return data


def _read_certificates(path: str, what: str) -> bytes:
    """The file's certificates, checked by OpenSSL; the error names this file alone."""
    data = _read_pem(path, what)
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cadata=data.decode("ascii"))
    except (ssl.SSLError, UnicodeDecodeError) as e:
        raise CatdogError(f"{path}: the {what} holds no usable PEM certificate ({e})") from e
    return data


def _read_pair(cert_file: str, key_file: str) -> tuple[bytes, bytes]:
    """(certificate chain, private key) once OpenSSL has loaded them together: each file is named in its own
    error, and a key that needs a pass phrase is refused, never prompted for."""
    key = _read_pem(key_file, "private key")
    cert = _read_certificates(cert_file, "certificate")
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(cert_file, key_file, password=_refuse_pass_phrase)
    except _PassPhraseAsked:
        raise CatdogError(
            f"{key_file}: the private key is encrypted with a pass phrase, which catdog never asks "
            "for; give the key without one (openssl pkey -in KEY -out PLAIN_KEY)"
        ) from None
    except ssl.SSLError as e:
        if e.reason == "KEY_VALUES_MISMATCH":
            raise CatdogError(f"{key_file}: the private key is not the key of the certificate {cert_file}") from e
        raise CatdogError(f"{key_file}: the private key is not a usable PEM private key ({e})") from e
    return cert, key


def server_credentials(cert_file: str, key_file: str, client_ca_file: str = "") -> grpc.ServerCredentials:
    """With client_ca_file, clients must present a certificate that CA signed (mutual TLS)."""
    cert, key = _read_pair(cert_file, key_file)
    client_ca = _read_certificates(client_ca_file, "client CA certificate") if client_ca_file else None
    return grpc.ssl_server_credentials(
        [(key, cert)], root_certificates=client_ca, require_client_auth=client_ca is not None
    )


def channel_credentials(ca_file: str = "", cert_file: str = "", key_file: str = "") -> grpc.ChannelCredentials | None:
    """None when no file is given (plain text). Without ca_file the system's CAs check the server;
    cert_file and key_file identify the client to a server that asks (mutual TLS)."""
    if not (ca_file or cert_file or key_file):
        return None
    if bool(cert_file) != bool(key_file):
        raise CatdogError("a client certificate needs its key: give both --ssl-cert and --ssl-key, or neither")
    cert, key = _read_pair(cert_file, key_file) if cert_file else (None, None)
    return grpc.ssl_channel_credentials(
        root_certificates=_read_certificates(ca_file, "CA certificate") if ca_file else None,
        private_key=key,
        certificate_chain=cert,
    )


def server_ssl_context(cert_file: str, key_file: str, client_ca_file: str = "") -> ssl.SSLContext:
    """The REST server's side of server_credentials: the same files, the same mutual TLS with a client CA."""
    _read_pair(cert_file, key_file)  # the same one-line errors as gRPC's
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file, password=_refuse_pass_phrase)
    if client_ca_file:
        context.load_verify_locations(cadata=_read_certificates(client_ca_file, "client CA certificate").decode())
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def requests_options(
    ca_file: str = "", cert_file: str = "", key_file: str = ""
) -> tuple[str | bool, tuple[str, str] | None]:
    """(verify, cert) for a requests session: the REST client's side of channel_credentials. The files are
    checked here, as for gRPC: requests would load a key that needs a pass phrase by prompting for it."""
    if bool(cert_file) != bool(key_file):
        raise CatdogError("a client certificate needs its key: give both --ssl-cert and --ssl-key, or neither")
    if ca_file:
        _read_certificates(ca_file, "CA certificate")
    if cert_file:
        _read_pair(cert_file, key_file)
    return (ca_file or True), ((cert_file, key_file) if cert_file else None)
