"""The Redis client: optional, because PostgreSQL stays the guarantee."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import redis
from redis.sentinel import Sentinel

from chairside.config import Settings
from chairside.errors import ConfigError


def make_redis(url: str | None) -> redis.Redis | None:
    """A client with short timeouts, so a dead Redis slows nothing down for long."""
    if url is None:
        return None
    return redis.Redis.from_url(
        url, socket_timeout=0.5, socket_connect_timeout=0.5, decode_responses=True
    )


def redis_for(settings: Settings) -> redis.Redis | None:
    """The app's Redis: the master Sentinel names when sentinels are set, else REDIS_URL.

    Through Sentinel, every new connection asks the sentinels where the master is, so
    after a failover the client follows the promoted replica by itself.
    """
    if settings.redis_sentinels.strip():
        sentinel = Sentinel(  # type: ignore[no-untyped-call]
            parse_sentinels(settings.redis_sentinels),
            socket_timeout=0.5,
            socket_connect_timeout=0.5,
        )
        client: redis.Redis = sentinel.master_for(  # type: ignore[no-untyped-call]
            settings.redis_sentinel_master,
            decode_responses=True,
            socket_timeout=0.5,
            socket_connect_timeout=0.5,
        )
        return client
    from chairside.db import redis_url

    return make_redis(redis_url(settings))


def describe_redis(settings: Settings) -> str | None:
    """Where the app's Redis is, for an operator (no password), or None without Redis."""
    if settings.redis_sentinels.strip():
        addresses = ",".join(f"{h}:{p}" for h, p in parse_sentinels(settings.redis_sentinels))
        return f"master {settings.redis_sentinel_master!r} via Sentinel {addresses}"
    from chairside.db import redis_url

    url = redis_url(settings)
    if url is None:
        return None
    parts = urlsplit(url)
    if parts.password is None:
        return url
    where = parts.netloc.rpartition("@")[2]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{where}"))


def parse_sentinels(value: str) -> list[tuple[str, int]]:
    """``host:port,host:port`` as addresses; errors name the bad entry."""
    addresses = []
    for entry in (part.strip() for part in value.split(",")):
        if not entry:
            continue
        host, _, port = entry.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ConfigError(
                f"CHAIRSIDE_REDIS_SENTINELS entry {entry!r} is not host:port "
                "(e.g. 10.0.0.5:26379,10.0.0.6:26379)"
            )
        addresses.append((host, int(port)))
    return addresses
