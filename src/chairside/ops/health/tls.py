"""TLS certificate expiry of the endpoints clients reach (warning at 30 days, critical at 7).

The certificate is fetched the way a client would, with verification on; when
verification fails (self-signed, wrong name, expired) it is fetched again without, so
the check can still say *when* it expires and adds why clients would refuse it.
"""

from __future__ import annotations

import socket
import ssl
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

from cryptography import x509

from chairside.checks import CheckResult, CheckStatus, worst
from chairside.errors import InputError


@dataclass(frozen=True)
class TlsEndpoint:
    """A host and port that serves TLS."""

    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


def parse_endpoint(raw: str) -> TlsEndpoint:
    """``host:port``, ``host`` (443) or ``https://host[:port]/…``."""
    text = raw.strip()
    if "://" in text:
        parts = urlsplit(text)
        if parts.scheme != "https" or not parts.hostname:
            raise InputError(
                f"TLS endpoint {raw!r} is not an https:// URL; use https://host[:port] or "
                "host:port",
                field="health_tls_endpoints",
            )
        return TlsEndpoint(parts.hostname, parts.port or 443)
    host, _, port = text.rpartition(":") if ":" in text else (text, "", "443")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise InputError(
            f"TLS endpoint {raw!r} is not host:port (port 1-65535)", field="health_tls_endpoints"
        )
    return TlsEndpoint(host, int(port))


def check_certificate(
    endpoint: TlsEndpoint,
    *,
    warning_days: float,
    critical_days: float,
    timeout: float = 3.0,
    now: datetime | None = None,
) -> CheckResult:
    """Days until the certificate served at ``endpoint`` expires, and whether it is trusted."""
    name = f"tls:{endpoint}"
    started = time.perf_counter()
    trust_problem: str | None = None
    try:
        try:
            der = _fetch_certificate(endpoint, verify=True, timeout=timeout)
        except ssl.SSLCertVerificationError as exc:
            trust_problem = exc.verify_message or str(exc)
            der = _fetch_certificate(endpoint, verify=False, timeout=timeout)
    except (OSError, ssl.SSLError) as exc:
        return CheckResult(
            name,
            CheckStatus.CRITICAL,
            f"no TLS handshake with {endpoint}: {exc}",
            latency_ms=_ms(started),
            details={"endpoint": str(endpoint)},
        )
    certificate = x509.load_der_x509_certificate(der)
    expires = certificate.not_valid_after_utc
    days_left = ((expires - (now or datetime.now(UTC))).total_seconds()) / 86400
    details: dict[str, object] = {
        "endpoint": str(endpoint),
        "subject": certificate.subject.rfc4514_string(),
        "not_after": expires.isoformat(),
        "expires_at": expires.timestamp(),
        "days_left": round(days_left, 2),
        "trusted": trust_problem is None,
    }
    statuses = [CheckStatus.OK]
    if days_left < critical_days:
        statuses.append(CheckStatus.CRITICAL)
    elif days_left < warning_days:
        statuses.append(CheckStatus.WARNING)
    summary = (
        f"expired {-days_left:.1f} days ago"
        if days_left < 0
        else f"expires in {days_left:.1f} days ({expires:%Y-%m-%d})"
    )
    summary += f" (warning under {warning_days:g} d, critical under {critical_days:g} d)"
    if trust_problem is not None:
        statuses.append(CheckStatus.WARNING)
        summary += f"; clients will not trust it: {trust_problem}"
    return CheckResult(name, worst(statuses), summary, latency_ms=_ms(started), details=details)


def _fetch_certificate(endpoint: TlsEndpoint, *, verify: bool, timeout: float) -> bytes:
    context = ssl.create_default_context()
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    with (
        socket.create_connection((endpoint.host, endpoint.port), timeout=timeout) as raw,
        context.wrap_socket(raw, server_hostname=endpoint.host) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    if der is None:
        raise ssl.SSLError(f"{endpoint} sent no certificate")
    return der


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)
