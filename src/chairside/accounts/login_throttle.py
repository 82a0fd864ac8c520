"""Failed-login limits beyond one account: per address, and for everyone together.

The per-account limit (address and e-mail, ``CHAIRSIDE_RATE_LIMIT_LOGIN``) stops guessing
one account's password. Spraying one common password over many accounts from one address
passes under it, so failures are also counted per address across every account
(``CHAIRSIDE_RATE_LIMIT_LOGIN_FAILURES_PER_ADDRESS``), and for all addresses together
(``CHAIRSIDE_RATE_LIMIT_LOGIN_FAILURES_GLOBAL``: a spray spread over many addresses).
Only failures count, so an office behind one address logging in all morning is never
held back; once a count is over its limit, every login it covers is refused with 429
until the window ends, before the password is checked.

Like every limit (ratelimit.py), these are counted in Redis, and in PostgreSQL
(``rate_limit_counters``, the same keys and windows) while Redis is down or absent.
"""

from __future__ import annotations

import logging

import redis
from sqlalchemy import Engine

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


def refuse_if_throttled(
    *, cache: redis.Redis | None, fallback: Engine | None, settings: Settings, address: str
) -> None:
    """RateLimitedError while the address's or everyone's failures are over their limits.

    Read in Redis; in PostgreSQL through ``fallback`` when Redis is down or absent.
    """
    checks = [(rule, whose, _identity(rule, address)) for rule, whose in rules(settings)]
    counts: list[tuple[int, int] | None] | None = None
    if cache is not None:
        try:
            pipe = cache.pipeline(transaction=False)
            for rule, _, identity in checks:
                key = ratelimit.key_of(rule, identity)
                pipe.get(key)
                pipe.ttl(key)
            replies = pipe.execute()
        except redis.RedisError as exc:
            log.warning(
                "redis unavailable: login failure limits read in PostgreSQL",
                extra={"error": str(exc)},
            )
        else:
            counts = [
                None if failures is None else (int(failures), int(ttl))
                for failures, ttl in zip(replies[::2], replies[1::2], strict=True)
            ]
    if counts is None:
        if fallback is None:
            return
        counts = [ratelimit.peek_database(fallback, rule, identity) for rule, _, identity in checks]
    for (rule, whose, _), counted in zip(checks, counts, strict=True):
        if counted is not None and counted[0] >= rule.limit:
            retry_after = max(1, counted[1])
            raise RateLimitedError(
                f"too many failed logins {whose}: the limit is {rule.limit} per "
                f"{rule.window_seconds} s; try again in {retry_after} s",
                retry_after=retry_after,
            )


def note_failure(
    *, cache: redis.Redis | None, fallback: Engine | None, settings: Settings, address: str
) -> None:
    """Count one failed login against the address and against everyone.

    In Redis; in PostgreSQL through ``fallback`` when Redis is down or absent.
    """
    if cache is not None:
        try:
            pipe = cache.pipeline(transaction=False)
            for rule, _ in rules(settings):
                ratelimit.count(pipe, rule, _identity(rule, address))
            pipe.execute()
        except redis.RedisError as exc:
            log.warning(
                "redis unavailable: login failure counted in PostgreSQL",
                extra={"error": str(exc)},
            )
        else:
            return
    if fallback is not None:
        for rule, _ in rules(settings):
            ratelimit.count_database(fallback, rule, _identity(rule, address))


def _identity(rule: ratelimit.Limit, address: str) -> str:
    return address if rule.bucket.endswith("address") else EVERYONE
