"""Who is told about an incident: P1 and P2 tell ``CHAIRSIDE_NOTIFY_URLS`` when they open
and when they are resolved (runbook: "notify stakeholders if severity is HIGH or
CRITICAL"), through the same notifier as ``chairside health --notify``. A notification
that fails never undoes the step: it is reported and recorded as a failed
``incident.notified`` ops event.
"""

from __future__ import annotations

from typing import Any

from chairside.config import Settings
from chairside.errors import ChairsideError
from chairside.ops.incidents.models import Incident, format_duration
from chairside.ops.notify.base import Notification, Notifier, Severity
from chairside.ops.notify.service import notifier_from_settings
from chairside.ops.timeline.store import OpsStore


def notify(
    settings: Settings,
    store: OpsStore,
    incident: Incident,
    notifier: Notifier | None,
    *,
    opened: bool,
) -> dict[str, Any] | None:
    """Send the opening or resolution of a P1/P2 incident; None when nobody is to be told."""
    if not incident.severity.notify_stakeholders:
        return None
    if notifier is None:
        if settings.notify_urls is None:
            return None
        try:
            notifier = notifier_from_settings(settings)
        except ChairsideError as exc:
            return _record_notified(store, incident, {"ok": False, "error": exc.message})
    report = notifier.send(incident_notification(incident, opened=opened))
    return _record_notified(store, incident, report.to_dict())


def _record_notified(store: OpsStore, incident: Incident, result: dict[str, Any]) -> dict[str, Any]:
    store.record(
        "incident.notified",
        f"incident {incident.id} ({incident.severity.code}) {incident.status.value}: "
        + ("stakeholders notified" if result["ok"] else "notification failed"),
        status="ok" if result["ok"] else "failed",
        details={"incident_id": incident.id, **result},
    )
    return result


def incident_notification(incident: Incident, *, opened: bool) -> Notification:
    """The message on call and stakeholders get when an incident opens or is resolved."""
    level = incident.severity
    if opened:
        return Notification(
            title=f"[{level.code} {level.name}] incident {incident.id} opened: {incident.title}",
            body=(
                f"{incident.summary or level.impact}\n"
                f"Response target: {level.response}. Escalation: {level.escalation}.\n"
                f"Opened by {incident.opened_by} at {incident.opened_at.isoformat()}."
            ),
            severity=Severity.CRITICAL if level.code == "P1" else Severity.WARNING,
        )
    return Notification(
        title=f"[{level.code}] incident {incident.id} resolved: {incident.title}",
        body=(
            f"Cause: {incident.cause}\n"
            + (f"Resolution: {incident.resolution}\n" if incident.resolution else "")
            + f"Resolved by {incident.resolved_by} after "
            + format_duration(incident.time_to_resolve_seconds or 0)
            + "."
        ),
        severity=Severity.OK,
    )
