"""Break-glass tokens: console access issued on the host, for when logins cannot work.

A login needs the database (the account, its password, its revocations), so exactly when
the database is down an operator who was not already logged in could not see the console.
``chairside ops break-glass`` runs on the host, where the token-signing secret is, and
prints a short-lived token (and a console link carrying it) that ``/ops/api/*`` accepts
without asking the database. Only the console accepts it: its ``typ`` and audience are
its own, so ``/api/v1`` refuses it like any token of the wrong type. Issuing one records
an ops event; rotating the secret (`chairside security rotate-secret`) voids every one.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import jwt

from chairside.config import Settings
from chairside.errors import AuthError, InputError

TOKEN_TYPE = "break-glass"
AUDIENCE = "chairside-ops-console"
ALGORITHM = "HS256"
DEFAULT_MINUTES = 15
MAX_MINUTES = 60


@dataclass(frozen=True)
class BreakGlassToken:
    """A verified (or freshly issued) break-glass token's claims."""

    jti: str
    issued_by: str
    expires_at: datetime


def issue_token(
    settings: Settings, *, issued_by: str, minutes: int = DEFAULT_MINUTES
) -> tuple[str, BreakGlassToken]:
    """A signed console token valid for ``minutes`` (1 to MAX_MINUTES)."""
    if not 1 <= minutes <= MAX_MINUTES:
        raise InputError(
            f"--minutes {minutes} is out of range: a break-glass token lives 1 to "
            f"{MAX_MINUTES} minutes",
            field="minutes",
        )
    now = time.time()
    claims = BreakGlassToken(
        jti=secrets.token_urlsafe(12),
        issued_by=issued_by,
        expires_at=datetime.fromtimestamp(int(now) + minutes * 60, UTC),
    )
    payload = {
        "sub": TOKEN_TYPE,
        "typ": TOKEN_TYPE,
        "aud": AUDIENCE,
        "jti": claims.jti,
        "by": issued_by,
        "iat": now,
        "exp": int(now) + minutes * 60,
    }
    return jwt.encode(payload, settings.effective_jwt_secret(), algorithm=ALGORITHM), claims


def read_token(settings: Settings, token: str) -> BreakGlassToken | None:
    """The claims of a break-glass token; None for any other token; AuthError when bad."""
    try:
        unverified = jwt.decode(token, options={"verify_signature": False})
    except jwt.InvalidTokenError:
        return None  # not a JWT at all: the ordinary check says what is wrong
    if unverified.get("typ") != TOKEN_TYPE:
        return None
    try:
        payload = jwt.decode(
            token,
            settings.effective_jwt_secret(),
            algorithms=[ALGORITHM],
            audience=AUDIENCE,
            options={"require": ["typ", "aud", "jti", "exp", "iat"]},
        )
    except jwt.ExpiredSignatureError:
        raise AuthError(
            "break-glass token expired; issue a new one on the host: chairside ops break-glass"
        ) from None
    except jwt.InvalidTokenError as exc:
        raise AuthError(f"invalid break-glass token: {exc}") from None
    return BreakGlassToken(
        jti=str(payload["jti"]),
        issued_by=str(payload.get("by", "unknown")),
        expires_at=datetime.fromtimestamp(int(payload["exp"]), UTC),
    )
