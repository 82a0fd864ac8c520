"""Fixed-window rate limits (login, register, booking creation), in Redis or PostgreSQL.

Redis counts them. When Redis does not answer, or none is configured, the same windows
are counted in PostgreSQL (``rate_limit_counters``, one upsert in a transaction of its
own, so a refused login still counts), and the limit holds: the login limit is what
stands between a password list and the accounts, so it must not turn off with Redis.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import Any

import redis
from sqlalchemy import Engine, text

from chairside.errors import RateLimitedError

log = logging.getLogger("chairside.ratelimit")


@dataclass(frozen=True)
class Limit:
    """At most ``limit`` attempts per ``window_seconds`` for each identity in ``bucket``."""

    bucket: str
    limit: int
    window_seconds: int


def hit(
    client: redis.Redis | None,
    *,
    bucket: str,
    identity: str,
    limit: int,
    window_seconds: int,
    fallback: Engine | None,
) -> None:
    """Count one attempt; raise RateLimitedError once ``limit`` is exceeded in the window.

    Counted in Redis; in PostgreSQL through ``fallback`` when Redis is down or absent.
    ``fallback`` is required so that no caller forgets it: None only where no database is.
    """
    rule = Limit(bucket=bucket, limit=limit, window_seconds=window_seconds)
    if client is not None:
        try:
            pipe = client.pipeline()
            count(pipe, rule, identity)
            replies = pipe.execute()
        except redis.RedisError as exc:
            log.warning(
                "redis unavailable: rate limit counted in PostgreSQL", extra={"error": str(exc)}
            )
        else:
            judge(rule, replies)
            return
    if fallback is not None:
        hit_database(fallback, rule, identity)


# One fixed window per key: a window that ended starts over at 1.
_UPSERT = text(
    "INSERT INTO rate_limit_counters AS c (key, attempts, window_ends_at) "
    "VALUES (:key, 1, now() + make_interval(secs => :window)) "
    "ON CONFLICT (key) DO UPDATE SET "
    "attempts = CASE WHEN c.window_ends_at <= now() THEN 1 ELSE c.attempts + 1 END, "
    "window_ends_at = CASE WHEN c.window_ends_at <= now() "
    "THEN excluded.window_ends_at ELSE c.window_ends_at END "
    "RETURNING attempts, ceil(extract(epoch FROM c.window_ends_at - now()))::int AS ttl"
)


def hit_database(engine: Engine, rule: Limit, identity: str) -> None:
    """Count one attempt in PostgreSQL (its own transaction); raise when over the limit."""
    judge(rule, count_database(engine, rule, identity))


def count_database(engine: Engine, rule: Limit, identity: str) -> list[Any]:
    """Count one attempt in PostgreSQL (its own transaction), without judging it.

    Returns the count in the shape of :func:`count`'s replies, for :func:`judge` to read
    now or later (once it is known whether the attempt counts at all).
    """
    with engine.begin() as conn:
        row = conn.execute(
            _UPSERT, {"key": key_of(rule, identity), "window": rule.window_seconds}
        ).one()
    return [row.attempts, None, row.ttl]


_PEEK = text(
    "SELECT attempts, ceil(extract(epoch FROM window_ends_at - now()))::int AS ttl "
    "FROM rate_limit_counters WHERE key = :key AND window_ends_at > now()"
)


def peek_database(engine: Engine, rule: Limit, identity: str) -> tuple[int, int] | None:
    """The attempts counted in PostgreSQL in the current window and the seconds it has left.

    None when nothing is counted (no row, or its window ended). Reads only.
    """
    with engine.connect() as conn:
        row = conn.execute(_PEEK, {"key": key_of(rule, identity)}).first()
    return None if row is None else (int(row.attempts), int(row.ttl))


_UNCOUNT = text(
    "UPDATE rate_limit_counters SET attempts = attempts - 1 "
    "WHERE key = :key AND attempts > 0 AND window_ends_at > now()"
)


def count(pipe: Any, rule: Limit, identity: str) -> None:
    """Queue one attempt of ``identity`` on a Redis pipeline; :func:`judge` reads the replies."""
    key = key_of(rule, identity)
    pipe.incr(key)
    pipe.expire(key, rule.window_seconds, nx=True)
    pipe.ttl(key)


def key_of(rule: Limit, identity: str) -> str:
    """The Redis key counting ``identity``'s attempts under ``rule``."""
    digest = hashlib.sha256(identity.encode("utf-8", "backslashreplace")).hexdigest()[:32]
    return f"chairside:rl:{rule.bucket}:{digest}"


def uncount(
    client: redis.Redis | None, rule: Limit, identity: str, *, database: Engine | None = None
) -> None:
    """Take back one attempt (it turned out not to be one) where it was counted.

    In PostgreSQL when ``database`` is given (counted by :func:`count_database`), else in
    Redis (counted by :func:`count`).
    """
    if database is not None:
        with database.begin() as conn:
            conn.execute(_UNCOUNT, {"key": key_of(rule, identity)})
        return
    if client is None:
        return
    try:
        client.decr(key_of(rule, identity))
    except redis.RedisError as exc:
        log.warning("rate limit not adjusted, redis unavailable", extra={"error": str(exc)})


def judge(rule: Limit, replies: list[Any]) -> None:
    """Raise RateLimitedError when the replies of :func:`count` say the limit is exceeded."""
    attempts, _, ttl = replies
    if int(attempts) > rule.limit:
        retry_after = max(1, int(ttl))
        raise RateLimitedError(
            f"too many {rule.bucket} attempts: the limit is {rule.limit} per "
            f"{rule.window_seconds} s; try again in {retry_after} s",
            retry_after=retry_after,
        )
