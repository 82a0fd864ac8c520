"""``chairside incident open|ack|note|status|resolve|list|show|report``."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from chairside.cli.output import JsonOption, Output, ReportFormatOption, ReportOutputOption, guarded
from chairside.config import get_settings
from chairside.ops.incidents import report as incident_report
from chairside.ops.incidents import service
from chairside.ops.incidents.models import Incident, format_duration
from chairside.ops.incidents.service import IncidentChange

app = typer.Typer(help="Incident response: open, acknowledge, note, resolve, report.")

IdArgument = Annotated[int, typer.Argument(help="The incident's id (see `incident list`).")]
ByOption = Annotated[str | None, typer.Option("--by", help="Who did it (default user@host).")]
AtOption = Annotated[
    str | None,
    typer.Option(
        "--at", help="When it happened, for steps logged late: 2026-12-04T03:12:00Z (default now)."
    ),
]


@app.command("open")
def open_(
    severity: Annotated[
        str,
        typer.Option(
            "--severity",
            help="P1 CRITICAL (outage, immediate), P2 HIGH (major degradation, 15 min), "
            "P3 MEDIUM (minor issues, 1 h), P4 LOW (no user impact, 4 h).",
        ),
    ],
    title: Annotated[str, typer.Option("--title", help="What is wrong, in a few words.")],
    summary: Annotated[str, typer.Option("--summary", help="Impact and first findings.")] = "",
    by: ByOption = None,
    at: AtOption = None,
    json_output: JsonOption = False,
) -> None:
    """Open an incident; P1 and P2 notify CHAIRSIDE_NOTIFY_URLS when it is set."""
    out = Output(json_mode=json_output)
    with guarded(out):
        change = service.open_incident(
            get_settings(), severity=severity, title=title, summary=summary, by=by, at=at
        )
        out.result(change.to_dict(), lambda console: _render_change(console, change))
        _warn_if_not_notified(out, change)


@app.command("ack")
def ack(
    incident_id: IdArgument,
    by: ByOption = None,
    at: AtOption = None,
    json_output: JsonOption = False,
) -> None:
    """Acknowledge an open incident (the first step on call)."""
    out = Output(json_mode=json_output)
    with guarded(out):
        change = service.acknowledge(get_settings(), incident_id=incident_id, by=by, at=at)
        out.result(change.to_dict(), lambda console: _render_change(console, change))


@app.command("note")
def note(
    incident_id: IdArgument,
    text: Annotated[str, typer.Argument(help="What was found or done.")],
    by: ByOption = None,
    at: AtOption = None,
    json_output: JsonOption = False,
) -> None:
    """Add a finding to the incident's timeline (allowed in every state)."""
    out = Output(json_mode=json_output)
    with guarded(out):
        change = service.add_note(get_settings(), incident_id=incident_id, text=text, by=by, at=at)
        out.result(change.to_dict(), lambda console: _render_change(console, change))


@app.command("status")
def status(
    incident_id: IdArgument,
    new_status: Annotated[str, typer.Argument(help="investigating, identified or monitoring.")],
    note_text: Annotated[str, typer.Option("--note", help="Why, in a sentence.")] = "",
    by: ByOption = None,
    at: AtOption = None,
    json_output: JsonOption = False,
) -> None:
    """Move an acknowledged incident to investigating, identified or monitoring."""
    out = Output(json_mode=json_output)
    with guarded(out):
        change = service.set_status(
            get_settings(), incident_id=incident_id, status=new_status, note=note_text, by=by, at=at
        )
        out.result(change.to_dict(), lambda console: _render_change(console, change))


@app.command("resolve")
def resolve(
    incident_id: IdArgument,
    cause: Annotated[str, typer.Option("--cause", help="What caused it (root cause).")],
    resolution: Annotated[str, typer.Option("--resolution", help="What fixed it.")] = "",
    by: ByOption = None,
    at: AtOption = None,
    json_output: JsonOption = False,
) -> None:
    """Resolve an incident with its cause; P1 and P2 notify CHAIRSIDE_NOTIFY_URLS."""
    out = Output(json_mode=json_output)
    with guarded(out):
        change = service.resolve(
            get_settings(),
            incident_id=incident_id,
            cause=cause,
            resolution=resolution,
            by=by,
            at=at,
        )
        out.result(change.to_dict(), lambda console: _render_change(console, change))
        _warn_if_not_notified(out, change)


@app.command("list")
def list_(
    open_only: Annotated[
        bool, typer.Option("--open-only", help="Only incidents not resolved yet.")
    ] = False,
    json_output: JsonOption = False,
) -> None:
    """Incidents, newest first."""
    out = Output(json_mode=json_output)
    with guarded(out):
        found = service.list_incidents(get_settings(), open_only=open_only)
        data = {"incidents": [incident.to_dict() for incident in found]}
        out.result(data, lambda console: _render_list(console, found))


@app.command("show")
def show(incident_id: IdArgument, json_output: JsonOption = False) -> None:
    """One incident with its whole timeline."""
    out = Output(json_mode=json_output)
    with guarded(out):
        incident = service.get_incident(get_settings(), incident_id=incident_id)
        data = incident.to_dict(with_entries=True)
        out.result(data, lambda console: _render_show(console, incident))


@app.command("report")
def report(
    incident_id: IdArgument,
    output_format: ReportFormatOption = "markdown",
    output: ReportOutputOption = None,
    json_output: JsonOption = False,
) -> None:
    """The post-incident report: timeline, response times, ops events, cause."""
    out = Output(json_mode=json_output)
    with guarded(out):
        data = incident_report.build_report(get_settings(), incident_id=incident_id)
        text = incident_report.render(data, output_format=output_format)
        if output is not None:
            output.write_text(text + "\n")
            out.info(f"report written to {output}")
        out.result(
            data, lambda console: console.print(text, markup=False, highlight=False, soft_wrap=True)
        )


def _render_change(console: Console, change: IncidentChange) -> None:
    incident = change.incident
    entry = incident.entries[-1]
    level = incident.severity
    console.print(
        f"incident {incident.id} {level.code} {level.name} {escape(incident.title)}: "
        f"[bold]{incident.status.value}[/]",
        highlight=False,
    )
    console.print(
        f"{entry.kind.value} at {entry.at:%Y-%m-%d %H:%M:%S} UTC by {entry.actor}: {entry.text}",
        markup=False,
    )
    if entry.kind.value == "opened":
        console.print(
            f"response target: {level.response}; escalation: {level.escalation}; "
            f"next: chairside incident ack {incident.id}",
            markup=False,
        )
    if change.notified is not None and change.notified.get("ok"):
        console.print("stakeholders notified", markup=False)


def _warn_if_not_notified(out: Output, change: IncidentChange) -> None:
    if change.notified is not None and not change.notified.get("ok"):
        detail = change.notified.get("error") or "a destination did not take it"
        out.info(f"[yellow]warning:[/] the notification failed ({detail}); tell people yourself")


def _render_list(console: Console, incidents: list[Incident]) -> None:
    if not incidents:
        console.print("no incidents")
        return
    table = Table(title="incidents", title_justify="left")
    for column in ("id", "severity", "status", "opened (UTC)", "acknowledged", "title"):
        table.add_column(column)
    for incident in incidents:
        tta = incident.time_to_acknowledge_seconds
        table.add_row(
            str(incident.id),
            f"{incident.severity.code} {incident.severity.name}",
            incident.status.value,
            f"{incident.opened_at:%Y-%m-%d %H:%M:%S}",
            "not yet" if tta is None else f"after {format_duration(tta)}",
            escape(incident.title),
        )
    console.print(table)


def _render_show(console: Console, incident: Incident) -> None:
    level = incident.severity
    console.print(
        f"incident {incident.id} {level.code} {level.name} {escape(incident.title)}: "
        f"[bold]{incident.status.value}[/]",
        highlight=False,
    )
    if incident.summary:
        console.print(incident.summary, markup=False)
    table = Table(title="timeline (UTC)", title_justify="left")
    for column in ("time", "step", "status", "by", "details"):
        table.add_column(column)
    for entry in incident.entries:
        table.add_row(
            f"{entry.at:%Y-%m-%d %H:%M:%S}",
            entry.kind.value,
            entry.status.value,
            escape(entry.actor),
            escape(entry.text),
        )
    console.print(table)
