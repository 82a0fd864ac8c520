"""Cookie sessions for people: the account service's tokens, carried in cookies.

Logging in through the web app issues the same access and refresh tokens as
``POST /api/v1/auth/login`` (accounts/service.py) and puts them in two cookies:
``cs_access`` (lives as long as the access token) and ``cs_refresh`` (as long as the
refresh token), both ``HttpOnly``, ``SameSite=Lax``, ``Path=/`` and ``Secure`` when the
request came over https. A page whose access token has expired refreshes it
transparently (rotation, as ``/api/v1/auth/refresh``; a reused refresh token revokes its
family) and the new cookies ride on that page's response. Logging out revokes both
tokens and the family.

Route dependencies: ``MaybePerson`` (the person or None), ``Person`` (or a redirect to
``/login?next=...``), ``ClientPerson`` and ``OwnerPerson`` (that role, else 403).
"""

from __future__ import annotations

import logging
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Request, Response
from sqlalchemy.orm import Session

from chairside.accounts import service
from chairside.accounts.principal import Principal
from chairside.accounts.refresh import Reused, TokenPair
from chairside.api.context import AppContext
from chairside.api.deps import ContextDep, SessionDep
from chairside.config import Settings
from chairside.errors import AuthError, PermissionDeniedError

ACCESS_COOKIE = "cs_access"
REFRESH_COOKIE = "cs_refresh"
log = logging.getLogger("chairside.webapp")


class LoginRequired(Exception):
    """No (valid) session: the page answers with a redirect to the login page."""

    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url

    def login_url(self) -> str:
        return f"/login?next={quote(self.next_url, safe='/')}"


def is_secure(request: Request) -> bool:
    """Whether cookies may be marked Secure: the request came over https."""
    return request.url.scheme == "https"


def set_session_cookies(
    response: Response, pair: TokenPair, *, settings: Settings, secure: bool
) -> None:
    """Put a token pair in the session cookies of ``response``."""
    common = {"httponly": True, "samesite": "lax", "secure": secure, "path": "/"}
    response.set_cookie(
        ACCESS_COOKIE,
        pair.access_token,
        max_age=settings.access_token_minutes * 60,
        **common,  # type: ignore[arg-type]
    )
    response.set_cookie(
        REFRESH_COOKIE,
        pair.refresh_token,
        max_age=settings.refresh_token_days * 86400,
        **common,  # type: ignore[arg-type]
    )


def clear_session_cookies(response: Response, *, secure: bool) -> None:
    """Remove the session cookies (the browser forgets the tokens)."""
    for name in (ACCESS_COOKIE, REFRESH_COOKIE):
        response.delete_cookie(name, path="/", secure=secure, httponly=True, samesite="lax")


def next_url_of(request: Request) -> str:
    """Where to come back to after logging in: this page (path and query)."""
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


def safe_next(value: str | None) -> str:
    """A local path to go to after login; anything else (another site) becomes ``/``."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


def _refresh(context: AppContext, refresh_token: str) -> TokenPair | None:
    """A new pair for the refresh cookie, in a transaction of its own.

    Its own transaction: a reused refresh token revokes its family, and that revocation
    must commit even though the page then answers with a redirect to the login page.
    """
    try:
        with context.sessions() as session, session.begin():
            pair = service.refresh(
                session=session,
                cache=context.redis,
                settings=context.settings,
                refresh_token=refresh_token,
            )
    except AuthError:
        return None
    return None if isinstance(pair, Reused) else pair


def current_person(request: Request, context: ContextDep, session: SessionDep) -> Principal | None:
    """The person of the session cookies, refreshing the access token when it expired."""
    access = request.cookies.get(ACCESS_COOKIE)
    if access:
        try:
            person = _authenticate(context, session, access)
        except AuthError:
            person = None
        if person is not None:
            request.state.person = person
            return person
    refresh_token = request.cookies.get(REFRESH_COOKIE)
    if not refresh_token:
        request.state.clear_session = bool(access)
        return None
    pair = _refresh(context, refresh_token)
    if pair is None:
        request.state.clear_session = True
        return None
    request.state.new_session = pair  # WebRoute puts it in the response's cookies
    person = _authenticate(context, session, pair.access_token)
    request.state.person = person
    return person


def _authenticate(context: AppContext, session: Session, access: str) -> Principal:
    return service.authenticate(
        session=session, cache=context.redis, settings=context.settings, access_token=access
    )


MaybePerson = Annotated[Principal | None, Depends(current_person)]
"""The logged-in person, or None (pages that anyone may see)."""


async def require_person(request: Request, person: MaybePerson) -> Principal:
    """The logged-in person; otherwise the page redirects to the login page."""
    if person is None:
        raise LoginRequired(next_url_of(request))
    return person


Person = Annotated[Principal, Depends(require_person)]


def _role_required(role: str, label: str) -> object:
    async def require_role(person: Person) -> Principal:
        if person.role != role:
            raise PermissionDeniedError(
                f"this page is for {label}; you are logged in as {person.email} "
                f"(role {person.role!r})"
            )
        return person

    return require_role


ClientPerson = Annotated[Principal, Depends(_role_required("client", "clients"))]
"""A logged-in client; 403 page for other roles."""
OwnerPerson = Annotated[Principal, Depends(_role_required("owner", "shop owners"))]
"""A logged-in shop owner; 403 page for other roles."""
