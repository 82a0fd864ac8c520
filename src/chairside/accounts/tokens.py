"""JWT access and refresh tokens: what they claim, issuing them, checking them.

Claims: ``sub`` (user id), ``role``, ``typ`` (access or refresh), ``jti`` (token id,
what logout revokes), ``iat`` (with sub-second precision, so "log out everywhere" can
refuse every token issued up to that moment), ``exp``, and on refresh tokens ``fam``: the
family of rotations that started at one login (accounts/refresh.py).
"""

from __future__ import annotations

import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

import jwt

from chairside.config import Settings
from chairside.errors import AuthError

ALGORITHM = "HS256"
TokenType = Literal["access", "refresh"]


@dataclass(frozen=True)
class TokenClaims:
    """The verified claims of a token."""

    user_id: uuid.UUID
    role: str
    typ: TokenType
    jti: str
    issued_at: float
    expires_at: datetime
    family_id: uuid.UUID | None = None  # refresh tokens issued since families exist


def issue(
    *,
    user_id: uuid.UUID,
    role: str,
    typ: TokenType,
    settings: Settings,
    family_id: uuid.UUID | None = None,
) -> tuple[str, TokenClaims]:
    """A signed token and its claims."""
    now = time.time()
    ttl = (
        settings.access_token_minutes * 60
        if typ == "access"
        else settings.refresh_token_days * 86400
    )
    claims = TokenClaims(
        user_id=user_id,
        role=role,
        typ=typ,
        jti=secrets.token_urlsafe(16),
        issued_at=now,
        expires_at=datetime.fromtimestamp(int(now) + ttl, UTC),
        family_id=family_id,
    )
    payload: dict[str, object] = {
        "sub": str(user_id),
        "role": role,
        "typ": typ,
        "jti": claims.jti,
        "iat": now,
        "exp": int(now) + ttl,
    }
    if family_id is not None:
        payload["fam"] = str(family_id)
    return jwt.encode(payload, settings.effective_jwt_secret(), algorithm=ALGORITHM), claims


def decode(token: str, *, expected: TokenType, settings: Settings) -> TokenClaims:
    """Verify signature, expiry and type; raise AuthError saying what is wrong."""
    try:
        payload = jwt.decode(
            token,
            settings.effective_jwt_secret(),
            algorithms=[ALGORITHM],
            options={"require": ["sub", "role", "typ", "jti", "iat", "exp"]},
        )
    except jwt.ExpiredSignatureError:
        raise AuthError("token expired; log in again or use your refresh token") from None
    except jwt.InvalidTokenError as exc:
        raise AuthError(f"invalid token: {exc}") from None
    if payload["typ"] != expected:
        raise AuthError(f"a {payload['typ']} token was given where an {expected} token is needed")
    try:
        user_id = uuid.UUID(str(payload["sub"]))
        family_id = uuid.UUID(str(payload["fam"])) if "fam" in payload else None
    except ValueError:
        raise AuthError("invalid token: subject or family is not an id") from None
    return TokenClaims(
        user_id=user_id,
        role=str(payload["role"]),
        typ=expected,
        jti=str(payload["jti"]),
        issued_at=float(payload["iat"]),
        expires_at=datetime.fromtimestamp(int(payload["exp"]), UTC),
        family_id=family_id,
    )
