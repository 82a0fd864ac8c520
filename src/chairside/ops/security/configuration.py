"""Configuration that weakens security: the signing secret, password hashing cost, and
connections to PostgreSQL and Redis that leave loopback unencrypted or unauthenticated.

The signing-secret rule is the one the app enforces at startup
(:meth:`~chairside.config.Settings.effective_jwt_secret`), asked as production would.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from sqlalchemy.engine import make_url

from chairside.checks import CheckResult, CheckStatus
from chairside.config import Settings
from chairside.errors import ConfigError

# OWASP's argon2id minimum, the defaults of Settings.
MIN_HASH_MEMORY_KIB = 19456
MIN_HASH_TIME_COST = 2
LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "::1", ""}
SECURE_SSLMODES = {"require", "verify-ca", "verify-full"}


def check_config(settings: Settings) -> list[CheckResult]:
    """Every configuration check."""
    return [
        check_jwt_secret(settings),
        check_password_hashing(settings),
        check_log_level(settings),
        check_database_transport(settings),
        check_redis_transport(settings),
    ]


def check_jwt_secret(settings: Settings) -> CheckResult:
    """Critical in production when the secret is missing or weak; warning when set but weak."""
    production = settings.model_copy(update={"env": "production"})
    try:
        production.effective_jwt_secret()
    except ConfigError as exc:
        if settings.env == "production":
            return CheckResult("jwt_secret", CheckStatus.CRITICAL, exc.message)
        if settings.jwt_secret.get_secret_value():
            return CheckResult(
                "jwt_secret",
                CheckStatus.WARNING,
                f"CHAIRSIDE_JWT_SECRET is set but weak, so {settings.env} uses the random "
                f"secret in {settings.home / 'jwt-secret'} instead; production would refuse "
                "to start: expected at least 32 random characters",
            )
        return CheckResult(
            "jwt_secret",
            CheckStatus.OK,
            f"{settings.env}: tokens are signed with the random secret in "
            f"{settings.home / 'jwt-secret'} (production needs CHAIRSIDE_JWT_SECRET)",
        )
    return CheckResult(
        "jwt_secret", CheckStatus.OK, "CHAIRSIDE_JWT_SECRET is set and at least 32 characters"
    )


def check_password_hashing(settings: Settings) -> CheckResult:
    """Warning in production when argon2 costs less than OWASP's 19 MiB, t=2."""
    memory, time_cost = settings.password_hash_memory_kib, settings.password_hash_time_cost
    weak = memory < MIN_HASH_MEMORY_KIB or time_cost < MIN_HASH_TIME_COST
    summary = (
        f"argon2id memory {memory} KiB, time cost {time_cost} "
        f"(expected at least {MIN_HASH_MEMORY_KIB} KiB and {MIN_HASH_TIME_COST})"
    )
    if weak and settings.env == "production":
        return CheckResult("password_hashing", CheckStatus.WARNING, "too cheap: " + summary)
    return CheckResult("password_hashing", CheckStatus.OK, summary)


def check_log_level(settings: Settings) -> CheckResult:
    """Warning when production logs at DEBUG (request details, more than operators need)."""
    if settings.env == "production" and settings.log_level == "DEBUG":
        return CheckResult(
            "log_level",
            CheckStatus.WARNING,
            "CHAIRSIDE_LOG_LEVEL=DEBUG in production; expected INFO or above",
        )
    return CheckResult("log_level", CheckStatus.OK, f"{settings.env} logs at {settings.log_level}")


def check_database_transport(settings: Settings) -> CheckResult:
    """Warning when DATABASE_URL reaches beyond loopback without sslmode=require or stricter."""
    if settings.database_url is None:
        return CheckResult(
            "database_transport", CheckStatus.OK, "embedded cluster on a private Unix socket"
        )
    url = make_url(settings.database_url.get_secret_value())
    host = url.host or ""
    sslmode = str(url.query.get("sslmode", "prefer"))
    if host in LOOPBACK_HOSTS or host.startswith("/") or sslmode in SECURE_SSLMODES:
        return CheckResult(
            "database_transport",
            CheckStatus.OK,
            f"database at {host or 'socket'}, sslmode={sslmode}",
        )
    return CheckResult(
        "database_transport",
        CheckStatus.WARNING,
        f"DATABASE_URL reaches {host} with sslmode={sslmode}: passwords and data may cross "
        f"the network in clear; expected sslmode={' or '.join(sorted(SECURE_SSLMODES))}",
    )


def check_redis_transport(settings: Settings) -> CheckResult:
    """Warning when REDIS_URL reaches beyond loopback without TLS or without a password."""
    if settings.redis_url is None:
        return CheckResult("redis_transport", CheckStatus.OK, "no REDIS_URL (embedded or none)")
    url = urlsplit(settings.redis_url.get_secret_value())
    host = url.hostname or ""
    if host in LOOPBACK_HOSTS:
        return CheckResult("redis_transport", CheckStatus.OK, f"Redis on loopback ({host})")
    problems = []
    if url.scheme != "rediss":
        problems.append("not TLS (expected rediss://)")
    if not url.password:
        problems.append("no password")
    if not problems:
        return CheckResult("redis_transport", CheckStatus.OK, f"Redis at {host} over TLS with auth")
    return CheckResult(
        "redis_transport",
        CheckStatus.WARNING,
        f"REDIS_URL reaches {host}: {', '.join(problems)}",
    )
