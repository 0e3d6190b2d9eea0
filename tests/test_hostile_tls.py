"""TLS files given to `catdog serve` and `catdog predict`: each bad file named in its own error, a key that needs
a pass phrase refused (never a prompt), and only regular files opened (a FIFO is an error, not a hang)."""

import os
import shutil
import subprocess

import pytest
from conftest import run_catdog

from components.errors import CatdogError
from serving import tls

pytestmark = pytest.mark.skipif(not shutil.which("openssl"), reason="needs the openssl command")


@pytest.fixture(scope="module")
def pem(tmp_path_factory):
    """A self-signed certificate and its key, the key encrypted with a pass phrase, another key, a FIFO."""
    root = tmp_path_factory.mktemp("pem")

    def openssl(*args):
        subprocess.run(["openssl", *args], cwd=root, check=True, capture_output=True)

    openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        "server.key",
        "-out",
        "server.pem",
    )
    openssl("pkey", "-in", "server.key", "-aes256", "-passout", "pass:secret", "-out", "encrypted.key")
    openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", "other.key")
    (root / "notes.pem").write_text("-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n")
    os.mkfifo(root / "fifo.pem")
    return root


def _every_loader(cert, key, ca):
    """The four places TLS files are loaded: gRPC and REST servers, gRPC and REST clients."""
    return {
        "grpc server": lambda: tls.server_credentials(str(cert), str(key), str(ca) if ca else ""),
        "rest server": lambda: tls.server_ssl_context(str(cert), str(key), str(ca) if ca else ""),
        "grpc client": lambda: tls.channel_credentials(str(ca) if ca else "", str(cert), str(key)),
        "rest client": lambda: tls.requests_options(str(ca) if ca else "", str(cert), str(key)),
    }


def test_good_files_load_everywhere(pem):
    for load in _every_loader(pem / "server.pem", pem / "server.key", pem / "server.pem").values():
        load()


@pytest.mark.parametrize(
    "cert, key, ca, message",
    [
        ("server.pem", "server.key", "notes.pem", "{ca}: the client CA certificate holds no usable PEM certificate"),
        ("server.pem", "server.key", "server.key", "{ca}: the client CA certificate holds no usable PEM certificate"),
        ("notes.pem", "server.key", "", "{cert}: the certificate holds no usable PEM certificate"),
        ("server.pem", "other.key", "", "{key}: the private key is not the key of the certificate {cert}"),
        (
            "server.pem",
            "encrypted.key",
            "",
            "{key}: the private key is encrypted with a pass phrase, which catdog never asks for",
        ),
        ("fifo.pem", "server.key", "", "{cert}: cannot read the certificate: not a regular file: it is a FIFO"),
        ("server.pem", "fifo.pem", "", "{key}: cannot read the private key: not a regular file: it is a FIFO"),
        ("server.pem", "server.key", "fifo.pem", "{ca}: cannot read the client CA certificate: not a regular file"),
    ],
)
@pytest.mark.timeout(60)
def test_each_bad_file_is_named_in_its_own_error(pem, cert, key, ca, message):
    paths = {"cert": pem / cert, "key": pem / key, "ca": pem / ca if ca else None}
    expected = message.format(**paths)
    for where, load in _every_loader(*paths.values()).items():
        with pytest.raises(CatdogError) as raised:
            load()
        # the clients' CA is "the CA certificate", the servers' "the client CA certificate"
        expected_here = expected.replace("client CA", "CA") if "client" in where else expected
        assert str(raised.value).startswith(expected_here), where


def test_serve_never_prompts_for_a_pass_phrase_or_waits_on_a_fifo(pem, tmp_path):
    for cert, key, message in (
        ("server.pem", "encrypted.key", "encrypted with a pass phrase"),
        ("fifo.pem", "server.key", "not a regular file: it is a FIFO"),
    ):
        result = run_catdog(
            "serve",
            "--model-base-path",
            tmp_path,
            "--port",
            0,
            "--rest-port",
            0,
            "--ssl-cert",
            pem / cert,
            "--ssl-key",
            pem / key,
            timeout=120,
        )
        assert result.returncode == 2
        assert "pass phrase:" not in result.stdout + result.stderr  # OpenSSL's own prompt
        assert result.stderr.strip().splitlines()[-1].startswith("catdog: error: ") and message in result.stderr
