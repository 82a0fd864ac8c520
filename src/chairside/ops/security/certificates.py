"""TLS certificates of the endpoints clients reach, through health's own check.

The check itself is :func:`chairside.ops.health.tls.check_certificate`, with the same
endpoints and thresholds as ``chairside health``; this module only adds what a security
audit asks besides: that production watches at least one endpoint.
"""

from __future__ import annotations

from chairside.checks import CheckResult, CheckStatus
from chairside.config import Settings
from chairside.errors import InputError
from chairside.ops.health import tls


def check_certificates(settings: Settings) -> list[CheckResult]:
    """One result per CHAIRSIDE_HEALTH_TLS_ENDPOINTS entry, or one saying none is watched."""
    if not settings.health_tls_endpoints:
        status = CheckStatus.WARNING if settings.env == "production" else CheckStatus.OK
        return [
            CheckResult(
                "tls",
                status,
                "no TLS endpoints to check; expected CHAIRSIDE_HEALTH_TLS_ENDPOINTS to list the "
                "host:port clients reach"
                + ("" if status is CheckStatus.WARNING else f" in production ({settings.env} now)"),
            )
        ]
    results = []
    for raw in settings.health_tls_endpoints:
        try:
            endpoint = tls.parse_endpoint(raw)
        except InputError as exc:
            results.append(CheckResult(f"tls:{raw}", CheckStatus.UNKNOWN, exc.message))
            continue
        results.append(
            tls.check_certificate(
                endpoint,
                warning_days=settings.health_tls_warning_days,
                critical_days=settings.health_tls_critical_days,
            )
        )
    return results
