"""One ASGI middleware for every request: request id, modes, metrics, access log, 500s.

Written as plain ASGI rather than ``BaseHTTPMiddleware`` because it sits on every
request, including ``/health``, and must stay cheap.
"""

from __future__ import annotations

import logging
import re
import time
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from chairside.api.client_address import client_address_of_scope
from chairside.api.context import AppContext
from chairside.api.problems import problem_response
from chairside.logging import request_facts_var, request_id_var
from chairside.webapp.errors import error_page
from chairside.webapp.paths import ASSETS_PREFIX, accept_of, wants_page

log = logging.getLogger("chairside.http")

# Health and metrics must answer in every mode, or monitoring goes blind exactly when
# an operator needs it.
EXEMPT_PREFIXES = ("/health", "/metrics")
# The ops console (its page, login and summary) is where an operator looks while the
# service is in maintenance; it is read-only save its login. The web app's assets style
# the maintenance page itself.
MODE_EXEMPT_PREFIXES = (*EXEMPT_PREFIXES, "/ops", ASSETS_PREFIX)
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
# Read-only mode keeps people able to sign in and out: a session is not booking data.
READ_ONLY_ALLOWED = frozenset(
    {"/api/v1/auth/login", "/api/v1/auth/refresh", "/api/v1/auth/logout", "/login", "/logout"}
)
# The route label of requests a mode turned away: they are the mode working, not the
# service failing, so the error rate (health, alerts, deploy verification) leaves them out.
MODE_ROUTE = "(mode)"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class RequestContextMiddleware:
    """Assigns request ids, enforces maintenance/read-only, records metrics and logs."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        context: AppContext = scope["app"].state.context
        request_id = _incoming_request_id(scope) or uuid.uuid4().hex
        token = request_id_var.set(request_id)
        facts: dict[str, str] = {}
        facts_token = request_facts_var.set(facts)
        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            refusal = _mode_refusal(context, scope)
            if refusal is not None:
                scope["chairside.mode_refused"] = True
                await refusal(scope, receive, send_with_id)
            else:
                await self.app(scope, receive, send_with_id)
        except Exception:
            log.exception("unhandled error", extra={"path": scope["path"]})
            if not response_started:
                await problem_response(500, "internal error")(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            template = _route_template(scope)
            context.http_metrics.observe(
                method=scope["method"], route=template, status=status, seconds=elapsed
            )
            if not template.startswith(EXEMPT_PREFIXES):
                log.info(
                    "request",
                    extra={
                        "method": scope["method"],
                        "route": template,
                        "status": status,
                        "ms": round(elapsed * 1000, 2),
                        "client": client_address_of_scope(scope, context.settings.trusted_proxies),
                        "user_id": facts.get("user_id"),
                    },
                )
            request_facts_var.reset(facts_token)
            request_id_var.reset(token)


def _route_template(scope: Scope) -> str:
    """The matched route's template; plain Starlette routes (``/docs``) have fixed paths.

    FastAPI routes put themselves in the scope; Starlette's own (the docs pages) only
    leave their endpoint, and their paths have no parameters, so the path is the label.
    Anything unmatched shares one label, so scanners cannot explode the series.
    """
    if scope.get("chairside.mode_refused"):
        return MODE_ROUTE
    route = scope.get("route")
    if route is not None:
        return str(getattr(route, "path", "unmatched"))
    if "endpoint" in scope:
        return str(scope["path"])
    return "unmatched"


def _incoming_request_id(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            candidate = value.decode("latin-1")
            return candidate if _REQUEST_ID.match(candidate) else None
    return None


def _mode_refusal(context: AppContext, scope: Scope) -> ASGIApp | None:
    path: str = scope["path"]
    if path.startswith(MODE_EXEMPT_PREFIXES):
        return None
    modes = context.modes.current()
    retry = {"Retry-After": str(modes.retry_after)}
    page = wants_page(path, accept_of(scope["headers"]))
    if modes.maintenance:
        reason = f": {modes.reason}" if modes.reason else ""
        if page:
            return error_page(
                503,
                f"Chairside is down for maintenance{reason}. Your bookings are safe; "
                "please come back in a few minutes.",
                title="Down for maintenance",
                retry_after=modes.retry_after,
            )
        return problem_response(503, f"Chairside is in maintenance mode{reason}", headers=retry)
    if modes.read_only and scope["method"] not in SAFE_METHODS and path not in READ_ONLY_ALLOWED:
        if page:
            return error_page(
                503,
                "Chairside is read-only for a few minutes: you can look around, but changes "
                "(booking, cancelling, editing) are paused. Nothing was changed; please try "
                "again shortly.",
                title="Changes are paused",
                retry_after=modes.retry_after,
            )
        return problem_response(
            503,
            "Chairside is in read-only mode: reads work, changes are refused for now",
            headers=retry,
        )
    return None
