"""``WebRoute``: the route class of every web-app page; the web app's one edge.

Around each page it
- answers the outcomes a page raises as HTML: a login redirect (:class:`LoginRequired`),
  a CSRF refusal (403), a form rendered again (:class:`Rejected`), a ``ChairsideError``
  (the API's status, as an error page), bad path or query values (422), the database
  gone (503 with ``Retry-After``);
- writes the session cookies a transparent refresh or a login produced, and the CSRF seed;
- adds the security headers (headers.py) to every response.

Raised (not returned) so that they travel through the request's database session, which
rolls back: a refused or rejected request writes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse
from fastapi.routing import APIRoute

from chairside.api.problems import DATABASE_RETRY_AFTER_SECONDS, DATABASE_UNAVAILABLE, status_for
from chairside.api.security_events import record_auth_failure
from chairside.errors import AuthError, ChairsideError, RateLimitedError, UnavailableError
from chairside.logging import request_id_var
from chairside.webapp import csrf
from chairside.webapp.errors import error_page
from chairside.webapp.headers import PRIVATE, SECURITY_HEADERS
from chairside.webapp.render import Rejected
from chairside.webapp.session import (
    LoginRequired,
    clear_session_cookies,
    is_secure,
    next_url_of,
    set_session_cookies,
)

log = logging.getLogger("chairside.webapp")
Handler = Callable[[Request], Coroutine[Any, Any, Response]]


class WebRoute(APIRoute):
    """A web-app page: HTML errors, session cookies and security headers (see module)."""

    def get_route_handler(self) -> Handler:
        handler = super().get_route_handler()

        async def web_handler(request: Request) -> Response:
            try:
                response = await handler(request)
            except Exception as exc:  # noqa: BLE001 (each kind is answered below)
                response = await _answer(request, exc)
            _finish(request, response)
            return response

        return web_handler


async def _answer(request: Request, exc: Exception) -> Response:
    if isinstance(exc, Rejected):
        return exc.response
    if isinstance(exc, LoginRequired):
        request.state.clear_session = True
        return RedirectResponse(exc.login_url(), status_code=303)
    if isinstance(exc, csrf.CsrfRefused):
        log.warning("csrf refused", extra={"path": request.url.path, "reason": str(exc)})
        csrf.renew_seed(request)
        return error_page(
            403,
            f"This form could not be accepted: {exc}. Nothing was changed. "
            "Go back, reload the page and try again.",
            title="Form expired or not from this site",
        )
    if isinstance(exc, RequestValidationError):
        names = sorted({str(e.get("loc", ("", ""))[-1]) for e in exc.errors()})
        return error_page(422, f"The address has a bad value ({', '.join(names)}).")
    if isinstance(exc, ChairsideError):
        status = status_for(exc)
        retry = exc.retry_after if isinstance(exc, RateLimitedError | UnavailableError) else None
        if isinstance(exc, AuthError):
            await record_auth_failure(request, exc)
        message = exc.message if status < 500 or status == 503 else "Please try again later."
        return error_page(status, message, retry_after=retry)
    if isinstance(exc, DATABASE_UNAVAILABLE):
        log.warning("database unavailable", extra={"error": str(exc).splitlines()[0][:200]})
        return error_page(
            503,
            "Chairside cannot reach its database right now. Please try again in a moment.",
            retry_after=DATABASE_RETRY_AFTER_SECONDS,
        )
    # A bug: logged with its traceback, answered with a page carrying the request id.
    log.exception("unhandled error", extra={"path": request.url.path})
    reference = request_id_var.get() or "unknown"
    return error_page(500, f"Please try again later (reference {reference}).")


def _finish(request: Request, response: Response) -> None:
    secure = is_secure(request)
    pair = getattr(request.state, "new_session", None)
    if pair is not None:
        settings = request.app.state.context.settings
        set_session_cookies(response, pair, settings=settings, secure=secure)
    elif getattr(request.state, "clear_session", False):
        clear_session_cookies(response, secure=secure)
    seed = getattr(request.state, "new_csrf_seed", None)
    if seed is not None:
        response.set_cookie(
            csrf.CSRF_COOKIE, seed, httponly=True, samesite="lax", secure=secure, path="/"
        )
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    # Every page carries a CSRF token or a person's data: never from a shared cache.
    for name, value in PRIVATE.items():
        response.headers.setdefault(name, value)


__all__ = ["WebRoute", "next_url_of"]
