"""Who may read the ops console: an admin, even while the database is down.

With the database answering, an admin's access token is checked in full, as on every
route (signature, expiry, the account, its revocations). With the database down (the
watch says so, or the check fails on the connection) an admin token is accepted on its
signature, expiry and role, unless Redis knows it revoked: a revocation recorded only in
PostgreSQL is not seen for those minutes (an access token lives
``CHAIRSIDE_ACCESS_TOKEN_MINUTES``), and the console is read-only. A break-glass token
(web/breakglass.py) never needs the database.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from fastapi import Depends
from fastapi.concurrency import run_in_threadpool

from chairside.accounts import revocation, tokens
from chairside.accounts.deps import BearerToken, authenticate
from chairside.accounts.principal import Principal
from chairside.api.context import AppContext
from chairside.api.deps import ContextDep
from chairside.api.problems import DATABASE_UNAVAILABLE
from chairside.errors import AuthError, PermissionDeniedError
from chairside.web import breakglass


@dataclass(frozen=True)
class Operator:
    """Who reads the console, and how that was established."""

    name: str
    via: Literal["account", "token-only", "break-glass"]

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "via": self.via}


async def console_operator(context: ContextDep, token: BearerToken) -> Operator:
    """The operator behind the bearer token; 401/403 otherwise (see the module docstring)."""
    glass = breakglass.read_token(context.settings, token)
    if glass is not None:
        return Operator(name=f"break-glass ({glass.issued_by})", via="break-glass")
    if context.database.reachable():
        try:
            principal = await run_in_threadpool(_authenticate, context, token)
        except DATABASE_UNAVAILABLE:
            pass  # gone since the watch last looked: judge the token without it
        else:
            _require_admin(principal.role)
            return Operator(name=principal.email, via="account")
    claims = tokens.decode(token, expected="access", settings=context.settings)
    if revocation.cached_revoked(context.redis, claims.jti):
        raise AuthError("token revoked (logged out); log in again")
    _require_admin(claims.role)
    return Operator(name=str(claims.user_id), via="token-only")


def _authenticate(context: AppContext, token: str) -> Principal:
    with context.sessions() as session, session.begin():
        return authenticate(context, session, token)


def _require_admin(role: str) -> None:
    if role != "admin":
        raise PermissionDeniedError(
            f"the ops console is for operators (admins) only; your role is {role!r}"
        )


ConsoleOperator = Annotated[Operator, Depends(console_operator)]
