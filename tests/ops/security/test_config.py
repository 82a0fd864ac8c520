"""``security audit config``: the signing secret, hashing cost, transport to the servers."""

from __future__ import annotations

from pydantic import SecretStr

from chairside.checks import CheckStatus
from chairside.config import Settings
from chairside.ops.security import configuration
from tests.ops.security.conftest import SecurityCli, check

STRONG = "k" * 20 + "Zq8wP3nV5tR7yU1iO9pL2s"


def test_a_weak_secret_in_production_is_critical(
    security_cli: SecurityCli, settings: Settings
) -> None:
    security_cli.use(
        settings.model_copy(update={"env": "production"}), CHAIRSIDE_JWT_SECRET="changeme"
    )
    run = security_cli("audit", "config")
    assert run.code == 2
    result = check(run.body, "jwt_secret")
    assert result["status"] == "critical"
    assert "CHAIRSIDE_JWT_SECRET is missing or weak" in result["summary"]
    assert "at least 32" in result["summary"]


def test_a_strong_secret_in_production_passes(settings: Settings) -> None:
    production = settings.model_copy(update={"env": "production", "jwt_secret": _secret(STRONG)})
    result = configuration.check_jwt_secret(production)
    assert result.status is CheckStatus.OK


def test_a_weak_secret_outside_production_is_a_warning_naming_the_file_in_use(
    settings: Settings,
) -> None:
    result = configuration.check_jwt_secret(
        settings.model_copy(update={"jwt_secret": _secret("secret")})
    )
    assert result.status is CheckStatus.WARNING
    assert str(settings.home / "jwt-secret") in result.summary


def test_no_secret_outside_production_uses_the_homes_random_secret(settings: Settings) -> None:
    result = configuration.check_jwt_secret(settings)
    assert result.status is CheckStatus.OK
    assert "random secret" in result.summary
    assert not (settings.home / "jwt-secret").exists()  # auditing creates nothing


def test_cheap_password_hashing_in_production_is_a_warning(settings: Settings) -> None:
    cheap = settings.model_copy(update={"env": "production", "password_hash_memory_kib": 1024})
    result = configuration.check_password_hashing(cheap)
    assert result.status is CheckStatus.WARNING
    assert "memory 1024 KiB" in result.summary
    assert "expected at least 19456 KiB" in result.summary
    assert configuration.check_password_hashing(settings).status is CheckStatus.OK


def test_debug_logging_in_production_is_a_warning(settings: Settings) -> None:
    noisy = settings.model_copy(update={"env": "production", "log_level": "DEBUG"})
    assert configuration.check_log_level(noisy).status is CheckStatus.WARNING
    assert configuration.check_log_level(settings).status is CheckStatus.OK


def test_a_remote_database_without_tls_is_a_warning(settings: Settings) -> None:
    remote = settings.model_copy(
        update={"database_url": _secret("postgresql://app:pw@db.internal:5432/chairside")}
    )
    result = configuration.check_database_transport(remote)
    assert result.status is CheckStatus.WARNING
    assert "db.internal" in result.summary and "sslmode=prefer" in result.summary
    required = settings.model_copy(
        update={"database_url": _secret("postgresql://app:pw@db.internal/c?sslmode=verify-full")}
    )
    assert configuration.check_database_transport(required).status is CheckStatus.OK
    assert configuration.check_database_transport(settings).status is CheckStatus.OK  # loopback


def test_a_remote_redis_without_tls_or_password_is_a_warning(settings: Settings) -> None:
    remote = settings.model_copy(update={"redis_url": _secret("redis://cache.internal:6379/0")})
    result = configuration.check_redis_transport(remote)
    assert result.status is CheckStatus.WARNING
    assert "not TLS" in result.summary and "no password" in result.summary
    safe = settings.model_copy(update={"redis_url": _secret("rediss://:pw@cache.internal:6380/0")})
    assert configuration.check_redis_transport(safe).status is CheckStatus.OK


def _secret(value: str) -> SecretStr:
    return SecretStr(value)
