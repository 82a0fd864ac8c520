"""Alerts raised by running parts (the supervisor, the sync policy): an event, and a message.

Every alert is an ops event (the timeline keeps it); when ``CHAIRSIDE_NOTIFY_URLS`` is
set it is also sent to the people on call. A notifier that fails is logged, never
raised: the part raising the alert (restarting PostgreSQL, releasing commits) must go
on either way.
"""

from __future__ import annotations

import logging
import socket
from typing import Any

from chairside.config import Settings
from chairside.errors import ChairsideError
from chairside.ops.notify.base import Notification, Notifier, Severity
from chairside.ops.timeline.store import open_ops_store

log = logging.getLogger("chairside.alerts")


def raise_alert(
    settings: Settings,
    kind: str,
    summary: str,
    *,
    severity: Severity,
    details: dict[str, Any] | None = None,
    notifier: Notifier | None = None,
) -> None:
    """Record ``kind`` as an ops event and tell people when notifications are configured."""
    status = {Severity.CRITICAL: "failed", Severity.WARNING: "warning"}.get(severity, "ok")
    try:
        open_ops_store(settings).record(kind, summary, status=status, details=details or {})
    except Exception as exc:  # noqa: BLE001 - the ops store must not stop a restart
        log.warning("could not record %s: %s", kind, exc)
    if notifier is None:
        if settings.notify_urls is None:
            log.warning("%s: %s", kind, summary)
            return
        from chairside.ops.notify.service import notifier_from_settings

        try:
            notifier = notifier_from_settings(settings)
        except ChairsideError as exc:
            log.warning("%s: %s (not notified: %s)", kind, summary, exc.message)
            return
    title = f"Chairside {severity.value.upper()}: {kind} on {socket.gethostname()}"
    try:
        notifier.send(Notification(title=title, body=summary, severity=severity))
    except Exception as exc:  # noqa: BLE001 - logged; the alert is in the ops store
        log.warning("could not notify %s: %s", kind, exc)
