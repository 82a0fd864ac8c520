"""Failed-login limits beyond one account: per address, and for everyone together.

The per-account limit (address and e-mail, ``CHAIRSIDE_RATE_LIMIT_LOGIN``) stops guessing
one account's password. Spraying one common password over many accounts from one address
passes under it, so failures are also counted per address across every account
(``CHAIRSIDE_RATE_LIMIT_LOGIN_FAILURES_PER_ADDRESS``), and for all addresses together
(``CHAIRSIDE_RATE_LIMIT_LOGIN_FAILURES_GLOBAL``: a spray spread over many addresses).
Only failures count, so an office behind one address logging in all morning is never
held back; once a count is over its limit, every login it covers is refused with 429
until the window ends, before the password is checked.

Like every limit (ratelimit.py), these are counted in Redis.
"""

from __future__ import annotations

import logging

import redis

from chairside.accounts import ratelimit
from chairside.config import Settings
from chairside.errors import RateLimitedError

log = logging.getLogger("chairside.ratelimit")
EVERYONE = "*"


def rules(settings: Settings) -> tuple[tuple[ratelimit.Limit, str], ...]:
    """The failure limits and whose failures they count: per address, then everyone's."""
    window = settings.rate_limit_window_seconds
    return (
        (
            ratelimit.Limit(
                "login_failures_address", settings.rate_limit_login_failures_per_address, window
            ),
            "from your address",
        ),
        (
            ratelimit.Limit(
                "login_failures_global", settings.rate_limit_login_failures_global, window
            ),
            "on this service (all addresses)",
        ),
    )


def refuse_if_throttled(*, cache: redis.Redis | None, settings: Settings, address: str) -> None:
    """RateLimitedError while the address's or everyone's failures are over their limits."""
    if cache is None:
        return
    checks = [
        (rule, whose, address if rule.bucket.endswith("address") else EVERYONE)
        for rule, whose in rules(settings)
    ]
    try:
        pipe = cache.pipeline(transaction=False)
        for rule, _, identity in checks:
            key = ratelimit.key_of(rule, identity)
            pipe.get(key)
            pipe.ttl(key)
        replies = pipe.execute()
    except redis.RedisError as exc:
        log.warning(
            "login failure limits not enforced, redis unavailable", extra={"error": str(exc)}
        )
        return
    for index, (rule, whose, _) in enumerate(checks):
        failures, ttl = replies[2 * index], replies[2 * index + 1]
        if failures is not None and int(failures) >= rule.limit:
            retry_after = max(1, int(ttl))
            raise RateLimitedError(
                f"too many failed logins {whose}: the limit is {rule.limit} per "
                f"{rule.window_seconds} s; try again in {retry_after} s",
                retry_after=retry_after,
            )


def note_failure(*, cache: redis.Redis | None, settings: Settings, address: str) -> None:
    """Count one failed login against the address and against everyone."""
    if cache is None:
        return
    try:
        pipe = cache.pipeline(transaction=False)
        for rule, _ in rules(settings):
            ratelimit.count(pipe, rule, address if rule.bucket.endswith("address") else EVERYONE)
        pipe.execute()
    except redis.RedisError as exc:
        log.warning("login failure not counted, redis unavailable", extra={"error": str(exc)})
