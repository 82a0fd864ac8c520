"""``chairside health [all|health|smoke]``: component checks and the business smoke test."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.console import Console

from chairside.cli.output import CommandKind, JsonOption, Output, guarded, render_checks
from chairside.config import get_settings
from chairside.ops.health.service import HealthKind, HealthRun, run_health


def health(
    kind: Annotated[
        HealthKind, typer.Argument(help="health (components), smoke (booking flow), or all.")
    ] = HealthKind.ALL,
    output: Annotated[
        Path | None,
        typer.Option(help="Status file to write (default $CHAIRSIDE_HOME/health/status.json)."),
    ] = None,
    notify: Annotated[
        bool, typer.Option("--notify", help="Notify CHAIRSIDE_NOTIFY_URLS when not ok.")
    ] = False,
    output_format: Annotated[
        Literal["text", "json"],
        typer.Option("--format", help="json is --json (the runbook's spelling)."),
    ] = "text",
    json_output: JsonOption = False,
) -> None:
    """Is it healthy, and does a booking still go through? Exit 0 ok, 1 warn, 2 crit, 3 unknown."""
    out = Output(json_mode=json_output or output_format == "json")
    with guarded(out, CommandKind.CHECK):
        run = run_health(get_settings(), kind=kind, output=output, notify=notify)
        out.result(run.to_dict(), lambda console: _render(console, run))
        out.exit_check(run.status)


def _render(console: Console, run: HealthRun) -> None:
    if run.results:
        render_checks(console, run.results, f"health of {run.api_url}")
    if run.smoke:
        render_checks(console, run.smoke, f"smoke test against {run.api_url}")
    console.print(f"overall: {run.status.value} · status file: {run.output}")
