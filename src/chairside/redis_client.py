"""The Redis client: optional, because PostgreSQL stays the guarantee."""

from __future__ import annotations

import redis


def make_redis(url: str | None) -> redis.Redis | None:
    """A client with short timeouts, so a dead Redis slows nothing down for long."""
    if url is None:
        return None
    return redis.Redis.from_url(
        url, socket_timeout=0.5, socket_connect_timeout=0.5, decode_responses=True
    )
