"""Accounts: register, log in, refresh, log out (one token or everywhere), who am I."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import redis
from sqlalchemy import Engine, Row, String, Uuid, bindparam, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from chairside.accounts import login_throttle, passwords, ratelimit, revocation, tokens
from chairside.accounts import refresh as families
from chairside.accounts.models import User
from chairside.accounts.notices import AccountNotices
from chairside.accounts.principal import Principal
from chairside.accounts.refresh import Reused, TokenPair
from chairside.audit import service as audit
from chairside.config import Settings
from chairside.errors import AuthError, InputError
from chairside.logging import note_user

SELF_SERVICE_ROLES = ("client", "provider", "owner")
log = logging.getLogger("chairside.accounts")


def register_from(
    *,
    session: Session,
    settings: Settings,
    notices: AccountNotices,
    cache: redis.Redis | None,
    fallback: Engine,
    address: str,
    email: str,
    password: str,
    full_name: str,
    role: str,
) -> None:
    """:func:`register`, counted first against ``address``'s registration limit (429 past
    it; in PostgreSQL through ``fallback`` when Redis is down): the API's and the web
    form's one path."""
    ratelimit.hit(
        cache,
        bucket="register",
        identity=address,
        limit=settings.rate_limit_register,
        window_seconds=settings.rate_limit_window_seconds,
        fallback=fallback,
    )
    register(
        session=session,
        settings=settings,
        notices=notices,
        email=email,
        password=password,
        full_name=full_name,
        role=role,
    )


def register(
    *,
    session: Session,
    settings: Settings,
    notices: AccountNotices,
    email: str,
    password: str,
    full_name: str,
    role: str,
) -> None:
    """Create an account, or tell an existing one's owner by e-mail; the same answer either way.

    Registration must not reveal which addresses have accounts: an address already
    registered gets a notice through ``notices`` (someone tried to register it; log in or
    reset the password), and the caller sees what a new registration sees. The password
    is hashed on both paths, so timing does not tell them apart either.
    """
    if role not in SELF_SERVICE_ROLES:
        raise InputError(
            f"role {role!r} cannot be registered; allowed: {', '.join(SELF_SERVICE_ROLES)}",
            field="role",
        )
    passwords.check_rules(password)
    email = email.strip()
    password_hash = passwords.hash_password(password, settings=settings)
    existing = session.scalar(select(User.email).where(func.lower(User.email) == email.lower()))
    if existing is not None:
        notices.registration_attempted(email=existing)  # the owner's address as stored
        return
    user = User(email=email, full_name=full_name.strip(), password_hash=password_hash, role=role)
    session.add(user)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        # Two registrations raced past the check above; the unique index decided.
        notices.registration_attempted(email=email)
        return
    actor = Principal(
        id=user.id, email=email, role=role, jti="", token_expires_at=datetime.now(UTC)
    )
    audit.record(
        session=session,
        actor=actor,
        action="account.registered",
        entity="user",
        entity_id=user.id,
        after={"email": email, "role": role, "full_name": user.full_name},
    )


def login(
    *,
    session: Session,
    cache: redis.Redis | None,
    fallback: Engine | None,
    settings: Settings,
    address: str,
    email: str,
    password: str,
) -> TokenPair:
    """Check the password and issue an access and a refresh token (a new family).

    429 while the caller's address, or everyone, has failed too often (login_throttle);
    a failure counts against both, in PostgreSQL through ``fallback`` when Redis is down.
    """
    login_throttle.refuse_if_throttled(
        cache=cache, fallback=fallback, settings=settings, address=address
    )
    user = session.scalar(select(User).where(func.lower(User.email) == email.strip().lower()))
    if user is None:
        # Hash anyway so that timing does not reveal which e-mails have accounts.
        passwords.hash_password(password, settings=settings)
    if user is None or not passwords.verify_password(
        user.password_hash, password, settings=settings
    ):
        # Nothing of this request to keep: give its connection back before the failure
        # is counted (in PostgreSQL, with Redis down), so it never holds two at once.
        session.rollback()
        login_throttle.note_failure(
            cache=cache, fallback=fallback, settings=settings, address=address
        )
        raise AuthError("wrong e-mail or password")
    if passwords.hasher_for(settings).check_needs_rehash(user.password_hash):
        user.password_hash = passwords.hash_password(password, settings=settings)
    return families.issue_pair(session=session, settings=settings, user=user)


def refresh(
    *, session: Session, cache: redis.Redis | None, settings: Settings, refresh_token: str
) -> TokenPair | Reused:
    """Exchange a refresh token for a new pair of the same family (rotation).

    A refresh token used before revokes its whole family and returns :class:`Reused`
    (the caller answers 401 and lets the revocation commit).
    """
    claims = tokens.decode(refresh_token, expected="refresh", settings=settings)
    if revocation.cached_revoked(cache, claims.jti):
        raise AuthError("token revoked (logged out); log in again")
    user = _check_user(claims, session.execute(CALLER, caller_params(claims)).first())
    family = families.rotate(session=session, cache=cache, claims=claims)
    if isinstance(family, Reused):
        log.warning(
            "refresh token reused; family revoked",
            extra={"user_id": str(user.id), "family_id": str(family.family_id)},
        )
        return family
    return families.issue_pair(session=session, settings=settings, user=user, family_id=family)


def authenticate(
    *,
    session: Session,
    cache: redis.Redis | None,
    settings: Settings,
    access_token: str,
    limit: ratelimit.Limit | None = None,
) -> Principal:
    """The caller behind an access token; AuthError when invalid, expired or revoked.

    With ``limit``, the call also counts as one of the caller's attempts (RateLimitedError
    past the limit, after the token proved good), in the Redis round trip that looks up
    the token's revocation.
    """
    token = present(cache=cache, settings=settings, access_token=access_token, limit=limit)
    return admit(token, session.execute(CALLER, caller_params(token.claims)).first())


@dataclass(frozen=True)
class PresentedToken:
    """An access token that verified and that Redis does not know as revoked.

    Not yet a caller: PostgreSQL has the last word on the account and its revocations,
    through :func:`admit`. A busy route loads the :data:`CALLER` columns in a statement
    it runs anyway (booking creation does) instead of a round trip of their own.
    """

    claims: tokens.TokenClaims
    limit: ratelimit.Limit | None = None
    # The limit's count, as ratelimit.count's replies (Redis's, or PostgreSQL's when the
    # caller counted it there); None when not counted.
    counted: list[Any] | None = None


def present(
    *,
    cache: redis.Redis | None,
    settings: Settings,
    access_token: str,
    limit: ratelimit.Limit | None = None,
) -> PresentedToken:
    """Verify an access token and ask Redis of it (and count it against ``limit``).

    One Redis round trip; AuthError when the token is bad, expired or known revoked.
    """
    claims = tokens.decode(access_token, expected="access", settings=settings)
    note_user(str(claims.user_id))  # signed by us: the access log may name the caller
    revoked, counted = _ask_cache(cache, claims=claims, limit=limit)
    if revoked:
        raise AuthError("token revoked (logged out); log in again")
    return PresentedToken(claims=claims, limit=limit, counted=counted)


def admit(token: PresentedToken, row: Row[Any] | None, *, limited: bool = True) -> Principal:
    """The caller, from a row with the :data:`CALLER` columns (None: no such account).

    AuthError when PostgreSQL knows the token revoked or the account changed;
    RateLimitedError when the token was counted past its limit, unless ``limited`` is
    False (the request turned out not to count: an idempotent replay).
    """
    user = _check_user(token.claims, row)
    if limited and token.limit is not None and token.counted is not None:
        ratelimit.judge(token.limit, token.counted)
    return Principal(
        id=user.id,
        email=user.email,
        role=user.role,
        jti=token.claims.jti,
        token_expires_at=token.claims.expires_at,
    )


def logout(
    *,
    session: Session,
    cache: redis.Redis | None,
    settings: Settings,
    principal: Principal,
    refresh_token: str | None = None,
) -> None:
    """Revoke the calling access token, and the refresh token when one is given."""
    revocation.revoke_token(
        session=session,
        cache=cache,
        jti=principal.jti,
        user_id=principal.id,
        expires_at=principal.token_expires_at,
    )
    if refresh_token:
        claims = tokens.decode(refresh_token, expected="refresh", settings=settings)
        if claims.user_id != principal.id:
            raise InputError("the refresh token belongs to another account", field="refresh_token")
        revocation.revoke_token(
            session=session,
            cache=cache,
            jti=claims.jti,
            user_id=principal.id,
            expires_at=claims.expires_at,
        )
        if claims.family_id is not None:
            families.revoke_family(session=session, cache=cache, family_id=claims.family_id)
    audit.record(
        session=session,
        actor=principal,
        action="account.logged_out",
        entity="user",
        entity_id=principal.id,
    )


def logout_everywhere(*, session: Session, principal: Principal) -> datetime:
    """Revoke every token of the caller issued up to now."""
    moment = revocation.revoke_all(session=session, user_id=principal.id)
    audit.record(
        session=session,
        actor=principal,
        action="account.logged_out_everywhere",
        entity="user",
        entity_id=principal.id,
        after={"tokens_valid_after": moment},
    )
    return moment


def get_user(*, session: Session, user_id: uuid.UUID) -> User:
    """The user row of an authenticated caller."""
    user = session.get(User, user_id)
    if user is None:
        raise AuthError("the account of this token no longer exists")
    return user


def update_contact(*, session: Session, principal: Principal, patch: dict[str, str | None]) -> User:
    """Change where reminders reach the caller: ``timezone`` (None: the shop's) and
    ``phone`` (None: no SMS). Audited."""
    user = get_user(session=session, user_id=principal.id)
    before = {name: getattr(user, name) for name in patch}
    for name, value in patch.items():
        setattr(user, name, value)
    session.flush()
    audit.record(
        session=session,
        actor=principal,
        action="account.contact_updated",
        entity="user",
        entity_id=user.id,
        before=before,
        after=dict(patch),
    )
    return user


# The user and the token's revocation in one round trip, built once: this runs on every
# authenticated request. Other statements may select CALLER's columns with rows of their
# own (bind caller_params) and hand the row to admit().
CALLER_COLUMNS = (User, revocation.revoked_clause(bindparam("jti", type_=String)).label("revoked"))
CALLER = select(*CALLER_COLUMNS).where(User.id == bindparam("user_id", type_=Uuid))


def caller_params(claims: tokens.TokenClaims) -> dict[str, object]:
    """The bind parameters of the :data:`CALLER` columns."""
    return {"user_id": claims.user_id, "jti": claims.jti}


def _ask_cache(
    cache: redis.Redis | None, *, claims: tokens.TokenClaims, limit: ratelimit.Limit | None
) -> tuple[bool, list[Any] | None]:
    """Whether Redis knows the token revoked, and the rate limit's count: one round trip.

    Redis being down answers "not known revoked" (PostgreSQL decides) and "not counted"
    (the limit protects capacity, not correctness).
    """
    if cache is None:
        return False, None
    try:
        pipe = cache.pipeline(transaction=False)
        revocation.ask_cached_revoked(pipe, claims.jti)
        if limit is not None:
            ratelimit.count(pipe, limit, str(claims.user_id))
        replies = pipe.execute()
    except redis.RedisError as exc:
        log.warning("revocation cache and rate limit unavailable", extra={"error": str(exc)})
        return False, None
    return bool(replies[0]), replies[1:] if limit is not None else None


def _check_user(claims: tokens.TokenClaims, row: Row[Any] | None) -> User:
    if row is None:
        raise AuthError("the account of this token no longer exists")
    user: User = row.User
    if (
        user.tokens_valid_after is not None
        and claims.issued_at <= user.tokens_valid_after.timestamp()
    ):
        raise AuthError("token revoked (logged out everywhere); log in again")
    if row.revoked:
        raise AuthError("token revoked (logged out); log in again")
    if user.role != claims.role:
        raise AuthError("the account's role changed since this token was issued; log in again")
    return user
