"""Failed logins and refused authorizations, as security events.

Every one is counted (``chairside_security_events_total{kind}``) and logged; each is also
an ops event (``security.login_failed``, ``security.forbidden``, ``security.token_rejected``
with the client address, the user when known, the route and the request id) so that
``chairside timeline --kind security`` shows them next to what operators did. A request
without any credentials is not an event: that is a browser before its login. Ops events
are capped per process (a password-guessing run must not turn into a write storm on
the ops store); the metric and the log keep counting past the cap.
"""

from __future__ import annotations

import logging
import threading
import time

from anyio import to_thread
from fastapi import Request

from chairside.api.client_address import client_address
from chairside.api.context import AppContext
from chairside.errors import AuthError, PermissionDeniedError
from chairside.logging import request_facts_var, request_id_var
from chairside.ops.timeline.store import open_ops_store

log = logging.getLogger("chairside.security")

LOGIN_PATHS = ("/api/v1/auth/login", "/ops/api/login")
EVENTS_PER_MINUTE = 30


class _Budget:
    """At most ``per_minute`` ops events a minute in this process."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self.window = 0
        self.used = 0
        self.lock = threading.Lock()

    def take(self) -> bool:
        with self.lock:
            window = int(time.monotonic() // 60)
            if window != self.window:
                self.window, self.used = window, 0
            self.used += 1
            return self.used <= self.per_minute


_budget = _Budget(EVENTS_PER_MINUTE)


def event_kind(request: Request, error: AuthError) -> str | None:
    """The security event an AuthError on this request is, or None for no event."""
    if request.url.path in LOGIN_PATHS and request.method == "POST":
        return "security.login_failed"
    if isinstance(error, PermissionDeniedError):
        return "security.forbidden"
    if "authorization" in request.headers:
        return "security.token_rejected"
    return None


async def record_auth_failure(request: Request, error: AuthError) -> None:
    """Count, log and (within the budget) record the failure; never fails the response."""
    kind = event_kind(request, error)
    context: AppContext | None = getattr(request.app.state, "context", None)
    if kind is None or context is None:
        return
    facts = request_facts_var.get() or {}
    route = getattr(request.scope.get("route"), "path", request.url.path)
    details = {
        "client": client_address(request, context.settings),
        "user_id": facts.get("user_id"),
        "method": request.method,
        "route": route,
        "reason": error.message,
        "request_id": request_id_var.get(),
    }
    context.http_metrics.security_event(kind)
    log.warning(kind, extra=details)
    if not _budget.take():
        return
    who = details["user_id"] or "an unknown caller"
    summary = f"{kind.removeprefix('security.')} from {details['client']} ({who}) on {route}"
    try:
        store = open_ops_store(context.settings)
        await to_thread.run_sync(
            lambda: store.record(kind, summary, status="warning", details=details)
        )
    except Exception:  # the ops store being down must not turn a 401 into a 500
        log.exception("could not record a security event", extra={"kind": kind})
