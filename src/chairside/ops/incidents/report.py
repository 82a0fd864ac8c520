"""The post-incident report (runbook, Post-Incident: "write incident report with timeline
and root cause"): every step with its UTC time, time to acknowledge against the
severity's response target, time to resolve, the other ops events of the incident window
(restores, backups, maintenance-mode switches…), cause, resolution, and an empty
follow-up actions section for the post-mortem to fill.

An unresolved incident gets a draft report whose window ends now.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from chairside.config import Settings
from chairside.ops.incidents.models import EntryKind, Incident, format_duration
from chairside.ops.incidents.service import get_incident, ops_store
from chairside.ops.timeline.store import OpsEvent

# The incident's own steps are already its timeline; the window lists everything else.
_OWN_KINDS = {f"incident.{kind.value}" for kind in EntryKind}


def build_report(
    settings: Settings, *, incident_id: int, now: datetime | None = None
) -> dict[str, Any]:
    """The report of one incident as data; ``render_markdown`` prints it for people."""
    incident = get_incident(settings, incident_id=incident_id)
    generated = now or datetime.now(UTC)
    window_end = incident.resolved_at or generated
    with ops_store(settings) as store:
        window = store.between(incident.opened_at, window_end)
    events = [event for event in window if not _is_own_step(event, incident)]
    level = incident.severity
    return {
        "generated_at": generated.isoformat(),
        "draft": incident.resolved_at is None,
        "incident": incident.to_dict(),
        "window": {"start": incident.opened_at.isoformat(), "end": window_end.isoformat()},
        "response": {
            "response_target": level.response,
            "response_target_seconds": level.response_target_seconds,
            "time_to_acknowledge_seconds": incident.time_to_acknowledge_seconds,
            "acknowledged_within_target": incident.acknowledged_within_target,
            "time_to_resolve_seconds": incident.time_to_resolve_seconds,
            # The runbooks set a response time per severity and no time to resolve.
            "resolve_target_seconds": None,
            "escalation": level.escalation,
        },
        "timeline": [entry.to_dict() for entry in incident.entries],
        "ops_events": [event.to_dict() for event in events],
        "cause": incident.cause,
        "resolution": incident.resolution,
        "follow_up_actions": [],
    }


def render(report: dict[str, Any], *, output_format: str) -> str:
    """The report as ``markdown`` or ``json`` text."""
    if output_format == "json":
        return json.dumps(report, indent=2, default=str)
    return render_markdown(report)


def render_markdown(report: dict[str, Any]) -> str:
    """The report as Markdown: headings, tables, UTC times."""
    incident = report["incident"]
    response = report["response"]
    draft = " (draft: not resolved yet)" if report["draft"] else ""
    target_seconds = format_duration(response["response_target_seconds"])
    target = f"{response['response_target']} ({target_seconds})"
    lines = [
        f"# Incident {incident['id']}: {incident['title']}{draft}",
        "",
        f"- **Severity:** {incident['severity']} {incident['severity_name']} "
        f"(response {response['response_target']}; escalation: {response['escalation']})",
        f"- **Status:** {incident['status']}",
        f"- **Opened:** {_when(incident['opened_at'])} by {incident['opened_by']}",
        f"- **Acknowledged:** {_by(incident, 'acknowledged')}",
        f"- **Resolved:** {_by(incident, 'resolved')}",
        f"- **Report generated:** {_when(report['generated_at'])}",
        "",
    ]
    if incident["summary"]:
        lines += ["## Summary", "", incident["summary"], ""]
    lines += [
        "## Response times",
        "",
        "| measure | actual | target | met |",
        "|---|---|---|---|",
        _measure_row(
            "time to acknowledge",
            response["time_to_acknowledge_seconds"],
            target,
            response["acknowledged_within_target"],
        ),
        _measure_row(
            "time to resolve", response["time_to_resolve_seconds"], "none in the runbooks", None
        ),
        "",
        "## Timeline (UTC)",
        "",
        "| time | step | status | by | details |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {_when(e['at'])} | {e['kind']} | {e['status']} | {_cell(e['actor'])} "
        f"| {_cell(e['text'])} |"
        for e in report["timeline"]
    ]
    lines += ["", "## Ops events during the incident (UTC)", ""]
    if report["ops_events"]:
        lines += ["| time | event | status | by | summary |", "|---|---|---|---|---|"]
        lines += [
            f"| {_when(e['at'])} | {e['kind']} | {e['status']} | {_cell(e['actor'])} "
            f"| {_cell(e['summary'])} |"
            for e in report["ops_events"]
        ]
    else:
        lines.append("No other ops events were recorded between opening and resolution.")
    lines += [
        "",
        "## Cause",
        "",
        report["cause"] or "_not resolved yet_",
        "",
        "## Resolution",
        "",
        report["resolution"] or "_not recorded_",
        "",
        "## Follow-up actions",
        "",
    ]
    return "\n".join(lines)


def _is_own_step(event: OpsEvent, incident: Incident) -> bool:
    return event.kind in _OWN_KINDS and event.details.get("incident_id") == incident.id


def _when(iso: str) -> str:
    moment = datetime.fromisoformat(iso).astimezone(UTC)
    return f"{moment:%Y-%m-%d %H:%M:%S} UTC"


def _by(incident: dict[str, Any], step: str) -> str:
    at = incident[f"{step}_at"]
    if at is None:
        return "not yet"
    return f"{_when(at)} by {incident[f'{step}_by']}"


def _measure_row(name: str, seconds: float | None, target: str, met: bool | None) -> str:
    actual = "not yet" if seconds is None else format_duration(seconds)
    verdict = {True: "yes", False: "**no**", None: "–"}[met]
    return f"| {name} | {actual} | {target} | {verdict} |"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
