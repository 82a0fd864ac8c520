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
            summary="not configured: rate limits and caches fall back to PostgreSQL",
        )
    started = time.perf_counter()
    try:
        client.ping()
    except redis.RedisError as exc:
        return CheckResult(
            name="redis",
            status=CheckStatus.WARNING,
            summary=f"unreachable ({type(exc).__name__}): running degraded",
            latency_ms=_elapsed_ms(started),
        )
    return CheckResult(
        name="redis",
        status=CheckStatus.OK,
        summary="answering",
        latency_ms=_elapsed_ms(started),
    )


def _elapsed_ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)


def _first_line(exc: SQLAlchemyError) -> str:
    orig = getattr(exc, "orig", None) or exc
    return str(orig).strip().splitlines()[0][:200] if str(orig).strip() else type(orig).__name__
