"""Token revocation: durable in PostgreSQL, cached in Redis.

PostgreSQL is the record: a revoked ``jti`` row and a user's ``tokens_valid_after``.
Redis holds the same facts as a fast path for refusing revoked tokens; a flushed or
unreachable Redis only means the database answers instead, never that a revoked token
is accepted.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime
from typing import Any

import redis
from sqlalchemy import Exists, delete, exists, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import BindParameter

from chairside.accounts.models import TokenRevocation, User

log = logging.getLogger("chairside.accounts")


def _jti_key(jti: str) -> str:
    return f"chairside:revoked:{jti}"


def revoke_token(
    *,
    session: Session,
    cache: redis.Redis | None,
    jti: str,
    user_id: uuid.UUID,
    expires_at: datetime,
) -> None:
    """Revoke one token id until it would have expired."""
    session.execute(
        insert(TokenRevocation)
        .values(jti=jti, user_id=user_id, expires_at=expires_at)
        .on_conflict_do_nothing()
    )
    ttl = int((expires_at - datetime.now(UTC)).total_seconds())
    if cache is not None and ttl > 0:
        try:
            cache.set(_jti_key(jti), "1", ex=ttl)
        except redis.RedisError as exc:
            log.warning("revocation not cached", extra={"error": str(exc)})


def revoke_all(*, session: Session, user_id: uuid.UUID) -> datetime:
    """Refuse every token of the user issued up to now; returns that moment."""
    now: datetime = session.execute(select(func.clock_timestamp())).scalar_one()
    session.execute(update(User).where(User.id == user_id).values(tokens_valid_after=now))
    return now


def cached_revoked(cache: redis.Redis | None, jti: str) -> bool:
    """True when Redis knows the token id is revoked; False means "ask PostgreSQL"."""
    if cache is None:
        return False
    try:
        return bool(cache.exists(_jti_key(jti)))
    except redis.RedisError:
        return False


def ask_cached_revoked(pipe: Any, jti: str) -> None:
    """Queue :func:`cached_revoked`'s question on a Redis pipeline (one reply: 0 or 1)."""
    pipe.exists(_jti_key(jti))


def revoked_clause(jti: str | BindParameter[str]) -> Exists:
    """A SQL ``EXISTS`` that is true when PostgreSQL records ``jti`` as revoked."""
    return exists().where(TokenRevocation.jti == jti)


def revoked_in_database(*, session: Session, jti: str) -> bool:
    """True when PostgreSQL records the token id as revoked."""
    found = session.scalar(select(TokenRevocation.jti).where(TokenRevocation.jti == jti))
    return found is not None


def purge_expired(*, session: Session) -> int:
    """Delete revocations of tokens that have expired anyway; returns how many."""
    result = session.execute(delete(TokenRevocation).where(TokenRevocation.expires_at < func.now()))
    return int(getattr(result, "rowcount", 0) or 0)
