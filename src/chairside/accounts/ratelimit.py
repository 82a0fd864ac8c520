"""Fixed-window rate limits in Redis (login, register, booking creation).

Redis being down must not lock everyone out, so a limit that cannot be counted lets the
request through and logs it; the limits protect capacity, not correctness.
"""

from __future__ import annotations

import hashlib
import logging

import redis

from chairside.errors import RateLimitedError

log = logging.getLogger("chairside.ratelimit")


def hit(
    client: redis.Redis | None, *, bucket: str, identity: str, limit: int, window_seconds: int
) -> None:
    """Count one attempt; raise RateLimitedError once ``limit`` is exceeded in the window."""
    if client is None:
        return
    digest = hashlib.sha256(identity.encode()).hexdigest()[:32]
    key = f"chairside:rl:{bucket}:{digest}"
    try:
        pipe = client.pipeline()
        pipe.incr(key)
        pipe.expire(key, window_seconds, nx=True)
        pipe.ttl(key)
        count, _, ttl = pipe.execute()
    except redis.RedisError as exc:
        log.warning("rate limit not enforced, redis unavailable", extra={"error": str(exc)})
        return
    if int(count) > limit:
        retry_after = max(1, int(ttl))
        raise RateLimitedError(
            f"too many {bucket} attempts: the limit is {limit} per {window_seconds} s; "
            f"try again in {retry_after} s",
            retry_after=retry_after,
        )
