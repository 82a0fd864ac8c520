"""Route dependencies of the booking side: the caller (``CurrentUser``) and its address."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from chairside.accounts import ratelimit, service
from chairside.accounts.notices import AccountNotices, LoggedNotices
from chairside.accounts.principal import Principal
from chairside.api import client_address as addresses
from chairside.api.context import AppContext
from chairside.api.deps import ContextDep, SessionDep
from chairside.errors import AuthError

_bearer = HTTPBearer(auto_error=False, description="An access token from /api/v1/auth/login")


async def bearer_token(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> str:
    """The bearer token of the request (not yet checked); 401 when there is none."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise AuthError("missing bearer token: send 'Authorization: Bearer <access token>'")
    return credentials.credentials


BearerToken = Annotated[str, Depends(bearer_token)]
"""For routes that authenticate inside their own session (see :func:`authenticate`)."""


def authenticate(
    context: AppContext, session: Session, token: str, *, limit: ratelimit.Limit | None = None
) -> Principal:
    """The caller behind ``token``; 401 when it is bad, expired or revoked.

    With ``limit``: 429 once the caller is over it (see accounts.service.authenticate).
    """
    return service.authenticate(
        session=session,
        cache=context.redis,
        settings=context.settings,
        access_token=token,
        limit=limit,
    )


def get_current_user(context: ContextDep, session: SessionDep, token: BearerToken) -> Principal:
    """The authenticated caller; 401 when the bearer token is missing, bad or revoked."""
    return authenticate(context, session, token)


CurrentUser = Annotated[Principal, Depends(get_current_user)]


async def client_address(request: Request, context: ContextDep) -> str:
    """The caller's address, for per-address rate limits (trusted proxies only)."""
    return addresses.client_address(request, context.settings)


ClientAddress = Annotated[str, Depends(client_address)]


async def account_notices(request: Request) -> AccountNotices:
    """Where notices to account holders go: ``app.state.account_notices``, else the log."""
    notices: AccountNotices | None = getattr(request.app.state, "account_notices", None)
    if notices is None:
        notices = LoggedNotices()
        request.app.state.account_notices = notices
    return notices


NoticesDep = Annotated[AccountNotices, Depends(account_notices)]
