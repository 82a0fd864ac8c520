"""Component checks: is the database there, is Redis there, and how fast they answer."""

from __future__ import annotations

import time

import redis
from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

from chairside.checks import CheckResult, CheckStatus


def check_database(engine: Engine) -> CheckResult:
    """Run ``SELECT 1`` and time it; critical when the database does not answer."""
    started = time.perf_counter()
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        return CheckResult(
            name="database",
            status=CheckStatus.CRITICAL,
            summary=f"database unreachable: {_first_line(exc)}",
            latency_ms=_elapsed_ms(started),
        )
    return CheckResult(
        name="database",
        status=CheckStatus.OK,
        summary="answering",
        latency_ms=_elapsed_ms(started),
    )


def check_redis(client: redis.Redis | None) -> CheckResult:
    """PING Redis; a warning when it is down, since PostgreSQL stays the guarantee."""
    if client is None:
        return CheckResult(
            name="redis",
            status=CheckStatus.WARNING,
            summary="not configured: rate limits counted in PostgreSQL, caches off",
            details={"configured": False, "reachable": False},
        )
    started = time.perf_counter()
    try:
        client.ping()
    except redis.RedisError as exc:
        return CheckResult(
            name="redis",
            status=CheckStatus.WARNING,
            summary=f"unreachable ({type(exc).__name__}: {_redis_error(exc)}): running "
            "degraded, rate limits counted in PostgreSQL, caches off",
            latency_ms=_elapsed_ms(started),
            details={"configured": True, "reachable": False},
        )
    return CheckResult(
        name="redis",
        status=CheckStatus.OK,
        summary="answering",
        latency_ms=_elapsed_ms(started),
    )


def _redis_error(exc: redis.RedisError) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:160] if text else "no answer"


def _elapsed_ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)


def _first_line(exc: SQLAlchemyError) -> str:
    orig = getattr(exc, "orig", None) or exc
    return str(orig).strip().splitlines()[0][:200] if str(orig).strip() else type(orig).__name__


def check_connections(
    engine: Engine, *, warning_percent: float, critical_percent: float
) -> CheckResult:
    """Connections in use against ``max_connections``: warning at 80 %, by default."""
    started = time.perf_counter()
    try:
        with engine.connect() as conn:
            row = conn.execute(
                text(
                    "SELECT (SELECT count(*) FROM pg_stat_activity WHERE backend_type = "
                    "'client backend'), current_setting('max_connections')::int"
                )
            ).one()
    except SQLAlchemyError as exc:
        return CheckResult(
            "connections",
            CheckStatus.UNKNOWN,
            f"cannot count connections: {_first_line(exc)}",
            latency_ms=_elapsed_ms(started),
        )
    used, maximum = int(row[0]), int(row[1])
    percent = round(100 * used / maximum, 1)
    details: dict[str, object] = {"used": used, "max": maximum, "percent": percent}
    status = CheckStatus.OK
    if percent > critical_percent:
        status = CheckStatus.CRITICAL
    elif percent >= warning_percent:
        status = CheckStatus.WARNING
    return CheckResult(
        "connections",
        status,
        f"{used} of {maximum} connections in use ({percent}%, warning at "
        f"{warning_percent:g}%, critical above {critical_percent:g}%)",
        latency_ms=_elapsed_ms(started),
        details=details,
    )
