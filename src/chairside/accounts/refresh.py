"""Refresh-token families: rotation with reuse detection.

Every login starts a family; every refresh token is a ``refresh_tokens`` row. A refresh
marks the presented token rotated (compare-and-swap: one of two racing refreshes wins)
and issues the next token of the same family. A token that was already rotated, presented
again, means two parties hold the family, a thief and its owner, and the server cannot
tell which is which: the whole family is revoked, its refresh tokens and the access
tokens issued with them, and both parties must log in again (OAuth 2.0 Security Best
Current Practice, refresh token rotation).

Refresh tokens from before families (no ``fam`` claim) are honoured once through the
older revocation list, and the pair they get back starts a family.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import redis
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from chairside.accounts import revocation, tokens
from chairside.accounts.models import RefreshToken, User
from chairside.config import Settings
from chairside.errors import AuthError


@dataclass(frozen=True)
class TokenPair:
    """What a successful login or refresh returns."""

    access_token: str
    refresh_token: str
    expires_in: int
    user: User


@dataclass(frozen=True)
class Reused:
    """A rotated refresh token came back: its family is now revoked."""

    family_id: uuid.UUID
    message: str = (
        "refresh token already used: this session was revoked on every device that "
        "shared it (a copy of the token may have leaked); log in again"
    )


def issue_pair(
    *, session: Session, settings: Settings, user: User, family_id: uuid.UUID | None = None
) -> TokenPair:
    """An access and a refresh token; a new family unless ``family_id`` continues one."""
    family = family_id or uuid.uuid4()
    # Every pair issued is activity: privacy retention never takes a client still using it.
    user.last_seen_at = datetime.now(UTC)
    access, access_claims = tokens.issue(
        user_id=user.id, role=user.role, typ="access", settings=settings
    )
    refresh_token, refresh_claims = tokens.issue(
        user_id=user.id, role=user.role, typ="refresh", settings=settings, family_id=family
    )
    session.add(
        RefreshToken(
            jti=refresh_claims.jti,
            family_id=family,
            user_id=user.id,
            access_jti=access_claims.jti,
            access_expires_at=access_claims.expires_at,
            expires_at=refresh_claims.expires_at,
        )
    )
    return TokenPair(
        access_token=access,
        refresh_token=refresh_token,
        expires_in=settings.access_token_minutes * 60,
        user=user,
    )


def rotate(
    *, session: Session, cache: redis.Redis | None, claims: tokens.TokenClaims
) -> uuid.UUID | Reused:
    """Retire the presented refresh token; the family its successor joins, or Reused.

    AuthError for a token that is unknown or revoked (logged out, family revoked).
    """
    if claims.family_id is None:
        return _rotate_legacy(session=session, cache=cache, claims=claims)
    family = session.execute(
        update(RefreshToken)
        .where(
            RefreshToken.jti == claims.jti,
            RefreshToken.rotated_at.is_(None),
            RefreshToken.revoked_at.is_(None),
        )
        .values(rotated_at=func.now())
        .returning(RefreshToken.family_id)
    ).scalar_one_or_none()
    if family is not None:
        return family
    row = session.get(RefreshToken, claims.jti)
    if row is None:
        raise AuthError("unknown refresh token; log in again")
    if row.revoked_at is not None:
        raise AuthError("refresh token revoked (logged out); log in again")
    revoke_family(session=session, cache=cache, family_id=row.family_id)
    return Reused(family_id=row.family_id)


def revoke_family(*, session: Session, cache: redis.Redis | None, family_id: uuid.UUID) -> None:
    """Revoke every refresh token of a family and the live access tokens issued with them."""
    rows = session.execute(
        update(RefreshToken)
        .where(RefreshToken.family_id == family_id)
        .values(revoked_at=func.coalesce(RefreshToken.revoked_at, func.now()))
        .returning(RefreshToken.user_id, RefreshToken.access_jti, RefreshToken.access_expires_at)
    ).all()
    now = datetime.now(UTC)
    for user_id, access_jti, access_expires_at in rows:
        if access_expires_at > now:
            revocation.revoke_token(
                session=session,
                cache=cache,
                jti=access_jti,
                user_id=user_id,
                expires_at=access_expires_at,
            )


def family_of(*, session: Session, jti: str) -> uuid.UUID | None:
    """The family of a refresh token id, if it has one."""
    return session.scalar(select(RefreshToken.family_id).where(RefreshToken.jti == jti))


def _rotate_legacy(
    *, session: Session, cache: redis.Redis | None, claims: tokens.TokenClaims
) -> uuid.UUID:
    if revocation.cached_revoked(cache, claims.jti) or revocation.revoked_in_database(
        session=session, jti=claims.jti
    ):
        raise AuthError("token revoked (logged out); log in again")
    revocation.revoke_token(
        session=session,
        cache=cache,
        jti=claims.jti,
        user_id=claims.user_id,
        expires_at=claims.expires_at,
    )
    return uuid.uuid4()
