"""CSRF protection for the cookie sessions: a signed token in every POST form.

A browser sends the session cookies with any request to our origin, including a form
another site submits; so every non-GET request to the web app must carry a token that
only our own pages could have put in the form. The token is an HMAC (keyed with the JWT
secret) of a random seed kept in the ``cs_csrf`` cookie (HttpOnly, SameSite=Lax); pages
put it in a hidden ``csrf_token`` field (``render.page`` passes ``csrf_token`` to every
template; the ``csrf_field()`` macro writes the input). A seed is issued with the
first page a browser sees and replaced at login and logout, so a token taken before a
login is worthless after it. A request from another origin (its ``Origin`` header) is
refused as well. A refusal is a 403 page, and the route never runs, so nothing is written.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Annotated

from fastapi import Depends, Request
from starlette.datastructures import FormData

from chairside.api.deps import ContextDep

CSRF_COOKIE = "cs_csrf"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class CsrfRefused(Exception):
    """A state-changing request without a valid token (answered with a 403 page)."""


def _sign(secret: str, seed: str) -> str:
    return hmac.new(secret.encode(), f"csrf:{seed}".encode(), hashlib.sha256).hexdigest()


def seed_of(request: Request) -> str:
    """This browser's seed: its cookie, or a new one (set on the response by WebRoute)."""
    fresh: str | None = getattr(request.state, "new_csrf_seed", None)
    if fresh:
        return fresh
    seed = request.cookies.get(CSRF_COOKIE)
    if seed and 16 <= len(seed) <= 128:
        return seed
    return renew_seed(request)


def renew_seed(request: Request) -> str:
    """Start a new seed (at login and logout); forms rendered after use it."""
    seed = secrets.token_urlsafe(32)
    request.state.new_csrf_seed = seed
    return seed


def token_for(request: Request, secret: str) -> str:
    """The token this browser's forms must carry."""
    return _sign(secret, seed_of(request))


async def check_csrf(request: Request, context: ContextDep) -> None:
    """Refuse a state-changing request without this browser's token (or from elsewhere)."""
    if request.method in SAFE_METHODS:
        return
    origin = request.headers.get("origin")
    if origin and origin != "null" and origin != _own_origin(request):
        raise CsrfRefused(f"the form was sent from another site ({origin})")
    seed = request.cookies.get(CSRF_COOKIE)
    form = await request.form()
    sent = form.get(CSRF_FIELD)
    if not seed or not isinstance(sent, str) or not sent:
        raise CsrfRefused("the form carries no security token (or cookies are off)")
    expected = _sign(context.settings.effective_jwt_secret(), seed)
    if not hmac.compare_digest(sent.encode(), expected.encode()):
        raise CsrfRefused("the form's security token does not match this browser's session")


def _own_origin(request: Request) -> str:
    return f"{request.url.scheme}://{request.url.netloc}"


async def checked_form(request: Request) -> FormData:
    """The request's form, after :func:`check_csrf` (a router dependency) accepted it."""
    return await request.form()


CheckedForm = Annotated[FormData, Depends(checked_form)]
"""The POSTed form of a web-app page (the router already checked its CSRF token)."""
