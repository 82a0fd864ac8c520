"""Certificate expiry of configured endpoints, against a real local TLS server."""

from __future__ import annotations

import json
import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from chairside.config import Settings
from chairside.runtime.ports import free_port
from tests.ops.health.conftest import CliCall


def _self_signed(directory: Path, *, days: float) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@contextmanager
def tls_server(directory: Path, *, days: float) -> Iterator[str]:
    """A TLS listener on a free loopback port serving a self-signed certificate."""
    cert, key = _self_signed(directory, days=days)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    port = free_port()
    listener = socket.create_server(("127.0.0.1", port))
    listener.settimeout(0.2)
    stop = threading.Event()

    def accept_loop() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            try:
                with context.wrap_socket(conn, server_side=True):
                    pass
            except (ssl.SSLError, OSError):
                pass  # a client that refuses the certificate hangs up mid-handshake

    thread = threading.Thread(target=accept_loop, daemon=True)
    thread.start()
    try:
        yield f"localhost:{port}"
    finally:
        stop.set()
        thread.join(timeout=5)
        listener.close()


def _env(settings: Settings, endpoints: list[str]) -> dict[str, str]:
    assert settings.database_url is not None
    return {
        "DATABASE_URL": settings.database_url.get_secret_value(),
        "CHAIRSIDE_HEALTH_API_URL": f"http://127.0.0.1:{free_port()}",
        "CHAIRSIDE_HEALTH_TLS_ENDPOINTS": json.dumps(endpoints),
    }


def test_a_certificate_expiring_in_3_days_is_critical(
    cli: CliCall, settings: Settings, tmp_path: Path
) -> None:
    with tls_server(tmp_path, days=3) as endpoint:
        result = cli("health", "health", "--json", env=_env(settings, [endpoint]))
    check = result.checks()[f"tls:{endpoint}"]
    assert check["status"] == "critical"
    assert 2.9 < check["details"]["days_left"] < 3.1
    assert "expires in 3.0 days" in check["summary"]
    assert check["details"]["trusted"] is False
    assert result.exit_code == 2


def test_a_certificate_expiring_in_20_days_is_a_warning_and_in_90_days_only_untrusted(
    cli: CliCall, settings: Settings, tmp_path: Path
) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with (
        tls_server(tmp_path / "a", days=20) as soon,
        tls_server(tmp_path / "b", days=90) as later,
    ):
        checks = cli("health", "health", "--json", env=_env(settings, [soon, later])).checks()
    assert checks[f"tls:{soon}"]["status"] == "warning"
    assert "expires in 20.0 days" in checks[f"tls:{soon}"]["summary"]
    assert checks[f"tls:{later}"]["status"] == "warning"
    assert "will not trust" in checks[f"tls:{later}"]["summary"]
    assert checks[f"tls:{later}"]["details"]["days_left"] > 89


def test_an_endpoint_that_does_not_speak_tls_is_critical(cli: CliCall, settings: Settings) -> None:
    endpoint = f"127.0.0.1:{free_port()}"
    checks = cli("health", "health", "--json", env=_env(settings, [endpoint])).checks()
    assert checks[f"tls:{endpoint}"]["status"] == "critical"
    assert "no TLS handshake" in checks[f"tls:{endpoint}"]["summary"]


def test_a_malformed_endpoint_is_reported_by_name(cli: CliCall, settings: Settings) -> None:
    checks = cli("health", "health", "--json", env=_env(settings, ["ftp://x"])).checks()
    assert checks["tls:ftp://x"]["status"] == "unknown"
    assert "'ftp://x'" in checks["tls:ftp://x"]["summary"]
