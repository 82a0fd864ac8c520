"""Rendered availability, cached briefly in Redis and dropped by every change that moves it.

A phone app asks for the same provider's next two weeks again and again, and computing
them (two queries, the slot rules, a thousand strings) costs milliseconds of CPU. The
answer only changes when something a provider's free times depend on changes, and every
such change goes through a service function that says so with :func:`note_changed`.

Layout: one Redis hash per provider, ``chairside:availability:{provider_id}``:

- field ``v``: the provider's version, raised after each committed change;
- field ``{v}|{service_id}|{from}|{to}``: ``{valid_until_ms}|{JSON body}``.

Why it never serves a stale answer for longer than ``max_age`` (and, for changes made
through the app, not at all):

- A reader reads the version *before* its database snapshot, and a store lands only while
  the version is still that one (checked and written in one Lua script). A change
  committed after the snapshot raises the version after its commit, so a result computed
  before it is either never stored or stored under a version nobody asks for any more.
- Writers raise the version after their transaction commits (a session event, see
  :func:`invalidate_after_commit`) and before the response is sent, so a client who just
  booked never sees its own slot offered.
- An entry carries its own end of validity: the first moment its answer changes with time
  alone (a hold running out frees its slot; the first start comes inside the minimum
  notice), capped at ``max_age``. That cap also bounds what no service function hears of:
  SQL typed by hand, a point-in-time restore underneath a running app.
- No Redis, or Redis failing: every request computes its answer, as without the cache.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import redis
from prometheus_client import CollectorRegistry, Counter
from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction, sessionmaker

log = logging.getLogger("chairside.availability")

_CHANGED = "chairside.availability_changed"
# A busy provider's hash is emptied when it holds more entries than this (many distinct
# date ranges within one version); the next readers store theirs again.
MAX_ENTRIES = 64
# An untouched hash goes after this long, taking its version with it (safe: a store
# checks the version it read, and a vanished hash reads as "0" again only for new readers).
IDLE_SECONDS = 3600

_LOOKUP = """
local v = redis.call('HGET', KEYS[1], 'v') or '0'
return {v, redis.call('HGET', KEYS[1], v .. '|' .. ARGV[1])}
"""
_STORE = """
if (redis.call('HGET', KEYS[1], 'v') or '0') ~= ARGV[1] then return 0 end
if redis.call('HLEN', KEYS[1]) > tonumber(ARGV[4]) then
  local v = redis.call('HGET', KEYS[1], 'v')
  redis.call('DEL', KEYS[1])
  if v then redis.call('HSET', KEYS[1], 'v', v) end
end
redis.call('HSET', KEYS[1], ARGV[1] .. '|' .. ARGV[2], ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[5])
return 1
"""
_BUMP = """
for _, key in ipairs(KEYS) do
  local v = redis.call('HINCRBY', key, 'v', 1)
  redis.call('DEL', key)
  redis.call('HSET', key, 'v', v)
  redis.call('EXPIRE', key, ARGV[1])
end
return #KEYS
"""


def _key(provider_id: uuid.UUID) -> str:
    return f"chairside:availability:{provider_id}"


@dataclass(frozen=True)
class Lookup:
    """What a reader found: the provider's version (None: no cache) and a valid body."""

    version: str | None
    body: str | None


MISS_UNCACHED = Lookup(version=None, body=None)


class AvailabilityCache:
    """Rendered availability per provider and query in Redis (see the module docstring)."""

    def __init__(
        self,
        client: redis.Redis | None,
        *,
        max_age_seconds: int,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.enabled = client is not None and max_age_seconds > 0
        self.max_age_seconds = max_age_seconds
        self._client = client
        self._lookups = Counter(
            "chairside_availability_cache_lookups",
            "Availability queries by what the cache had: hit, miss (computed and stored), "
            "or off (no Redis, Redis failing, or the cache turned off).",
            ["result"],
            registry=registry,
        )
        self._lookup: Any = client.register_script(_LOOKUP) if client else None
        self._store: Any = client.register_script(_STORE) if client else None
        self._bump: Any = client.register_script(_BUMP) if client else None

    def lookup(self, provider_id: uuid.UUID, query: str) -> Lookup:
        """The provider's current version and, if one is still valid, the cached body."""
        found = self._find(provider_id, query)
        result = "off" if found.version is None else "miss" if found.body is None else "hit"
        self._lookups.labels(result=result).inc()
        return found

    def _find(self, provider_id: uuid.UUID, query: str) -> Lookup:
        if not self.enabled:
            return MISS_UNCACHED
        try:
            version, entry = self._lookup(keys=[_key(provider_id)], args=[query])
        except redis.RedisError as exc:
            log.warning("availability cache unavailable", extra={"error": str(exc)})
            return MISS_UNCACHED
        version = str(version)
        if not entry:
            return Lookup(version=version, body=None)
        valid_until_ms, _, body = str(entry).partition("|")
        if int(valid_until_ms) <= _now_ms():
            return Lookup(version=version, body=None)
        return Lookup(version=version, body=body)

    def store(
        self,
        provider_id: uuid.UUID,
        query: str,
        *,
        version: str | None,
        body: str,
        valid_until: datetime | None,
    ) -> bool:
        """Keep ``body`` if the provider is still at ``version``; True when it was kept."""
        if not self.enabled or version is None:
            return False
        until_ms = _now_ms() + self.max_age_seconds * 1000
        if valid_until is not None:
            until_ms = min(until_ms, int(valid_until.timestamp() * 1000))
        if until_ms <= _now_ms():
            return False
        try:
            stored = self._store(
                keys=[_key(provider_id)],
                args=[version, query, f"{until_ms}|{body}", MAX_ENTRIES, IDLE_SECONDS],
            )
        except redis.RedisError as exc:
            log.warning("availability not cached", extra={"error": str(exc)})
            return False
        return bool(stored)

    def invalidate(self, provider_ids: Iterable[uuid.UUID]) -> None:
        """Raise the providers' versions: what was cached for them is never served again."""
        keys = sorted({_key(p) for p in provider_ids})
        if not keys or self._client is None:
            return
        try:
            self._bump(keys=keys, args=[IDLE_SECONDS])
        except redis.RedisError as exc:
            # Entries cached before this change live out their max age.
            log.warning(
                "availability cache not invalidated",
                extra={"error": str(exc), "max_age_seconds": self.max_age_seconds},
            )


def query_key(service_id: uuid.UUID, first_day: object, last_day: object) -> str:
    """The field naming one availability query of a provider."""
    return f"{service_id}|{first_day}|{last_day}"


def note_changed(session: Session, *provider_ids: uuid.UUID) -> None:
    """Record that this transaction changes when these providers are free."""
    session.info.setdefault(_CHANGED, set()).update(provider_ids)


def invalidate_after_commit(sessions: sessionmaker[Session], cache: AvailabilityCache) -> None:
    """Make every session of ``sessions`` invalidate the providers it changed, once committed."""

    def committed(session: Session) -> None:
        changed: set[uuid.UUID] = session.info.pop(_CHANGED, set())
        if changed:
            cache.invalidate(changed)

    def ended(session: Session, transaction: SessionTransaction) -> None:
        # A rolled-back transaction changed nothing: forget what it noted.
        if transaction.parent is None:
            session.info.pop(_CHANGED, None)

    event.listen(sessions, "after_commit", committed)
    event.listen(sessions, "after_transaction_end", ended)


def _now_ms() -> int:
    return int(time.time() * 1000)
