"""``chairside monitoring render`` and ``chairside alerts list|silence|silences|expire``."""

from __future__ import annotations

import getpass
import socket
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from chairside.cli.output import DryRunOption, JsonOption, Output, add_id_column, guarded
from chairside.config import get_settings
from chairside.ops.monitoring import alerts as alerts_service
from chairside.ops.monitoring.render import RenderedFile, render_monitoring
from chairside.ops.timeline.store import open_ops_store

monitoring_app = typer.Typer(help="Prometheus, Alertmanager and Grafana configuration.")
alerts_app = typer.Typer(help="Alerts and silences in Alertmanager.")


@monitoring_app.command("render")
def render(
    out: Annotated[Path, typer.Option("--out", help="Directory to write the files into.")],
    dry_run: DryRunOption = False,
    json_output: JsonOption = False,
) -> None:
    """Write Prometheus rules and scrape config, Alertmanager config, Grafana dashboards."""
    output = Output(json_mode=json_output)
    with guarded(output):
        settings = get_settings()
        files = render_monitoring(settings, out=out, dry_run=dry_run)
        if not dry_run:
            open_ops_store(settings).record(
                "monitoring.render",
                f"rendered {len(files)} monitoring files into {out}",
                details={"out": str(out), "files": [str(f.path) for f in files]},
            )
        data = {"out": str(out), "dry_run": dry_run, "files": [f.to_dict() for f in files]}
        output.result(data, lambda console: _render_files(console, files, dry_run))


@alerts_app.command("list")
def list_alerts(
    active_only: Annotated[
        bool, typer.Option("--active-only", help="Hide silenced and inhibited alerts.")
    ] = False,
    json_output: JsonOption = False,
) -> None:
    """The alerts Alertmanager holds now, with what silences or inhibits them."""
    output = Output(json_mode=json_output)
    with guarded(output), alerts_service.alertmanager(get_settings()) as client:
        found = client.alerts(include_suppressed=not active_only)
        data = {"alertmanager": client.base_url, "alerts": [a.to_dict() for a in found]}
        output.result(data, lambda console: _render_alerts(console, found))


@alerts_app.command("silence")
def silence(
    matcher: Annotated[
        list[str],
        typer.Option(help="Label matcher: name=value, name!=value, name=~re, name!~re."),
    ],
    duration: Annotated[str, typer.Option(help="How long: 30m, 2h, 1d (at most 30d).")],
    comment: Annotated[str, typer.Option(help="Why: shown to everyone who sees the silence.")],
    author: Annotated[str | None, typer.Option(help="Who (default user@host).")] = None,
    json_output: JsonOption = False,
) -> None:
    """Silence matching alerts for a while (maintenance windows, known incidents)."""
    output = Output(json_mode=json_output)
    with guarded(output):
        settings = get_settings()
        matchers = [alerts_service.parse_matcher(raw) for raw in matcher]
        length = alerts_service.parse_duration(duration)
        created_by = author or f"{getpass.getuser()}@{socket.gethostname()}"
        with alerts_service.alertmanager(settings) as client:
            silence_id = client.create_silence(
                matchers, duration=length, comment=comment, created_by=created_by
            )
            created = next(s for s in client.silences() if s.id == silence_id)
        open_ops_store(settings).record(
            "alerts.silence",
            f"silenced {', '.join(str(m) for m in matchers)} for {duration}: {comment}",
            details=created.to_dict(),
        )
        output.result(
            created.to_dict(),
            lambda console: console.print(
                f"silence {created.id} until {created.ends_at} for {', '.join(created.matchers)}"
            ),
        )


@alerts_app.command("silences")
def silences(
    include_expired: Annotated[bool, typer.Option("--expired", help="Show expired too.")] = False,
    json_output: JsonOption = False,
) -> None:
    """Active and pending silences."""
    output = Output(json_mode=json_output)
    with guarded(output), alerts_service.alertmanager(get_settings()) as client:
        found = client.silences(include_expired=include_expired)
        output.result(
            {"silences": [s.to_dict() for s in found]},
            lambda console: _render_silences(console, found),
        )


@alerts_app.command("expire")
def expire(
    silence_id: Annotated[str, typer.Argument(help="The silence id (see `alerts silences`).")],
    json_output: JsonOption = False,
) -> None:
    """End a silence now, so its alerts notify again."""
    output = Output(json_mode=json_output)
    with guarded(output):
        settings = get_settings()
        with alerts_service.alertmanager(settings) as client:
            client.expire_silence(silence_id)
        open_ops_store(settings).record("alerts.expire", f"expired silence {silence_id}")
        output.result(
            {"id": silence_id, "expired": True},
            lambda console: console.print(f"silence {silence_id} expired"),
        )


def _render_files(console: Console, files: list[RenderedFile], dry_run: bool) -> None:
    verb = "would write" if dry_run else "wrote"
    for item in files:
        console.print(f"{verb} {item.path} ({item.kind})")


def _render_alerts(console: Console, found: list[alerts_service.Alert]) -> None:
    if not found:
        console.print("no alerts")
        return
    table = Table(title="alerts", title_justify="left")
    for column in ("priority", "alert", "state", "since", "summary"):
        table.add_column(column, overflow="fold")  # silence ids in "state": never cut
    for alert in found:
        state = alert.state
        if alert.silenced_by:
            state += f" (silenced by {', '.join(alert.silenced_by)})"
        table.add_row(alert.priority, alert.name, state, alert.starts_at, alert.summary)
    console.print(table)


def _render_silences(console: Console, found: list[alerts_service.Silence]) -> None:
    if not found:
        console.print("no silences")
        return
    table = Table(title="silences", title_justify="left")
    add_id_column(table, "id", [s.id for s in found])
    for column in ("state", "matchers", "ends", "by", "comment"):
        table.add_column(column, overflow="fold")
    for s in found:
        table.add_row(s.id, s.state, ", ".join(s.matchers), s.ends_at, s.created_by, s.comment)
    console.print(table)
