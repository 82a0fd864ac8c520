"""``security audit ssl``: health's certificate check on the configured endpoints."""

from __future__ import annotations

from pathlib import Path

from chairside.checks import CheckStatus
from chairside.config import Settings
from chairside.ops.security.certificates import check_certificates
from tests.ops.health.test_tls_certificates import tls_server
from tests.ops.security.conftest import SecurityCli, check


def test_a_certificate_expiring_within_a_week_is_critical(
    security_cli: SecurityCli, settings: Settings, tmp_path: Path
) -> None:
    with tls_server(tmp_path, days=3) as endpoint:
        security_cli.use(settings, CHAIRSIDE_HEALTH_TLS_ENDPOINTS=f'["{endpoint}"]')
        run = security_cli("audit", "ssl")
    assert run.code == 2
    result = check(run.body, f"tls:{endpoint}")
    assert result["status"] == "critical"
    assert "expires in 2." in result["summary"] or "expires in 3." in result["summary"]
    assert "clients will not trust it" in result["summary"]  # self-signed


def test_no_watched_endpoint_in_production_is_a_warning(settings: Settings) -> None:
    [result] = check_certificates(settings.model_copy(update={"env": "production"}))
    assert result.status is CheckStatus.WARNING
    assert "CHAIRSIDE_HEALTH_TLS_ENDPOINTS" in result.summary
    [relaxed] = check_certificates(settings)
    assert relaxed.status is CheckStatus.OK


def test_an_endpoint_that_is_not_host_and_port_is_unknown(settings: Settings) -> None:
    [result] = check_certificates(
        settings.model_copy(update={"health_tls_endpoints": ["http://plain.example"]})
    )
    assert result.status is CheckStatus.UNKNOWN
    assert "not an https:// URL" in result.summary
