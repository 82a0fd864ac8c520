"""Fixed-window rate limits in Redis (login, register, booking creation).

Redis being down must not lock everyone out, so a limit that cannot be counted lets the
request through and logs it; the limits protect capacity, not correctness.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import Any

import redis

from chairside.errors import RateLimitedError

log = logging.getLogger("chairside.ratelimit")


@dataclass(frozen=True)
class Limit:
    """At most ``limit`` attempts per ``window_seconds`` for each identity in ``bucket``."""

    bucket: str
    limit: int
    window_seconds: int


def hit(
    client: redis.Redis | None, *, bucket: str, identity: str, limit: int, window_seconds: int
) -> None:
    """Count one attempt; raise RateLimitedError once ``limit`` is exceeded in the window."""
    if client is None:
        return
    rule = Limit(bucket=bucket, limit=limit, window_seconds=window_seconds)
    try:
        pipe = client.pipeline()
        count(pipe, rule, identity)
        replies = pipe.execute()
    except redis.RedisError as exc:
        log.warning("rate limit not enforced, redis unavailable", extra={"error": str(exc)})
        return
    judge(rule, replies)


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


def uncount(client: redis.Redis | None, rule: Limit, identity: str) -> None:
    """Take back one attempt counted by :func:`count` (it turned out not to be one)."""
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
