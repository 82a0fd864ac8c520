"""``chairside timeline [--since 24h|TIME] [--kind PREFIX] [--limit N]``: what happened."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from chairside.cli.output import JsonOption, Output, guarded
from chairside.config import get_settings
from chairside.durations import parse_duration
from chairside.errors import InputError
from chairside.ops.timeline.store import OpsEvent, open_ops_store

MAX_LIMIT = 10_000


def timeline(
    since: Annotated[
        str | None,
        typer.Option(
            "--since", help="A duration back from now (24h, 7d) or an ISO time (UTC by default)."
        ),
    ] = None,
    kind: Annotated[
        str | None,
        typer.Option("--kind", help="Only kinds starting so: backup, deploy., security.audit."),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", help="At most this many, the newest.")] = 100,
    json_output: JsonOption = False,
) -> None:
    """Ops events, oldest first: who did what to the service, and what the schedule did."""
    out = Output(json_mode=json_output)
    with guarded(out):
        if not 1 <= limit <= MAX_LIMIT:
            raise InputError(f"--limit {limit} must be from 1 to {MAX_LIMIT}", field="limit")
        start = parse_since(since) if since else None
        events = open_ops_store(get_settings()).listing(since=start, kind_prefix=kind, limit=limit)
    data = {
        "since": start.isoformat() if start else None,
        "kind": kind,
        "events": [e.to_dict() for e in events],
    }
    out.result(data, lambda console: _render(console, events))


def parse_since(raw: str, *, now: datetime | None = None) -> datetime:
    """``24h`` (back from now) or an ISO 8601 time; InputError naming both forms."""
    current = now or datetime.now(UTC)
    text = raw.strip()
    if text and text[0].isdigit() and text[-1].lower() in "smhdw" and ":" not in text:
        return current - parse_duration(text, maximum=timedelta(days=3660), field="since")
    try:
        moment = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
    except ValueError:
        raise InputError(
            f"--since {raw!r} is neither a duration (90m, 24h, 7d) nor an ISO time "
            "such as 2026-12-01T08:00:00Z",
            field="since",
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _render(console: Console, events: list[OpsEvent]) -> None:
    if not events:
        console.print("no ops events in that range")
        return
    table = Table(box=None, pad_edge=False)
    table.add_column("at (UTC)", no_wrap=True)
    table.add_column("kind", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("actor", overflow="fold")
    table.add_column("summary", overflow="fold", ratio=1)
    for event in events:
        style = {"failed": "red", "critical": "red", "warning": "yellow"}.get(event.status, "")
        table.add_row(
            f"{event.at:%m-%d %H:%M:%S}",
            event.kind,
            f"[{style}]{event.status}[/]" if style else event.status,
            escape(event.actor.split("@", 1)[0]),
            escape(event.summary),
        )
    console.print(table)
