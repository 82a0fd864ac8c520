"""``chairside reminders``: deliver due reminders (the scheduled job) and report on them.

``run`` delivers what is due, one reminder at a time (safe to run on several hosts at
once: claims skip each other's rows), and is refused in maintenance and read-only modes
like every job that writes application data. ``status`` is a check-type command.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from chairside.checks import worst
from chairside.cli.output import (
    CommandKind,
    JsonOption,
    Output,
    checks_payload,
    guarded,
    render_checks,
)
from chairside.clock import SystemClock
from chairside.config import get_settings
from chairside.db import database_url, make_engine, make_session_factory
from chairside.errors import GuardRefusedError, OperationFailedError
from chairside.ops.deploy.modes import ModeSwitch
from chairside.reminders import service

app = typer.Typer(help="Booking reminders: deliver the due ones, report on delivery.")


@app.command("run")
def run(
    limit: Annotated[int, typer.Option(min=1, max=100_000, help="At most this many.")] = 1000,
    json_output: JsonOption = False,
) -> None:
    """Deliver every reminder due now (exit 1: one failed for good or has an unknown outcome)."""
    out = Output(json_mode=json_output)
    with guarded(out):
        settings = get_settings()
        modes = ModeSwitch(settings).current()
        if modes.maintenance or modes.read_only:
            mode = "maintenance" if modes.maintenance else "read-only"
            raise GuardRefusedError(
                f"{mode} mode is on: reminders write application data; run again once it is off"
            )
        engine = make_engine(database_url(settings), pool_size=1)
        try:
            report = service.deliver_due(
                sessions=make_session_factory(engine),
                settings=settings,
                clock=SystemClock(),
                limit=limit,
            )
        finally:
            engine.dispose()
        data = report.to_dict()
        if report.failed or report.no_channel or report.ambiguous:
            # The schedule tells people about a failed run: these need someone to look.
            raise OperationFailedError(
                f"{report.failed + report.no_channel} reminders could not be delivered and "
                f"{report.ambiguous} have an unknown outcome (not sent again); see "
                "`chairside reminders status`",
                details=dict(data),
            )
        out.result(data, lambda c: c.print(", ".join(f"{k} {v}" for k, v in data.items())))


@app.command("status")
def status(json_output: JsonOption = False) -> None:
    """Are reminders going out on time? Exit 0 ok, 1 warning, 2 critical, 3 unknown."""
    out = Output(json_mode=json_output)
    with guarded(out, CommandKind.CHECK):
        settings = get_settings()
        engine = make_engine(database_url(settings), pool_size=1)
        try:
            counts, results = service.status(
                sessions=make_session_factory(engine), settings=settings, clock=SystemClock()
            )
        finally:
            engine.dispose()

        def render(console: Console) -> None:
            render_checks(console, results, "Reminders")
            console.print(
                ", ".join(f"{k} {v}" for k, v in counts.by_status.items() if v) or "no reminders"
            )

        out.result({**checks_payload(results), **counts.to_dict()}, render)
    out.exit_check(worst(r.status for r in results))
