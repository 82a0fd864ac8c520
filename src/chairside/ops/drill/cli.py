"""``chairside drill [--from REPO] [--target-time T]`` and ``chairside drill report``."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.markdown import Markdown

from chairside.cli.output import (
    ActionExit,
    JsonOption,
    Output,
    ReportFormatOption,
    ReportOutputOption,
    guarded,
)
from chairside.config import get_settings
from chairside.ops.drill.failover_cli import failover
from chairside.ops.drill.report import load_report, render_markdown
from chairside.ops.drill.service import run_drill
from chairside.ops.restore.targets import LATEST, build_target
from chairside.ops.restore.timelines import parse_timeline_choice

app = typer.Typer(
    help="Disaster-recovery drills: restore to a scratch cluster, check, measure RTO/RPO.",
)


@app.callback(invoke_without_command=True)
def drill(
    ctx: typer.Context,
    from_: Annotated[
        str | None,
        typer.Option("--from", help="Restore from this repository (default: the configured one)."),
    ] = None,
    target_time: Annotated[
        str | None,
        typer.Option("--target-time", help="Drill a point-in-time restore to this ISO time."),
    ] = None,
    backup_id: Annotated[
        str | None, typer.Option("--backup", help="Restore this backup (default: newest).")
    ] = None,
    target_timeline: Annotated[
        str | None,
        typer.Option(
            "--target-timeline",
            help="current (the live cluster's), latest (newest in the archive) or a number.",
        ),
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Run a drill: restore, check, measure, clean up, record the report. Exit 1 if it failed."""
    if ctx.invoked_subcommand is not None:
        return
    out = Output(json_mode=json_output)
    with guarded(out):
        target = LATEST if target_time is None else build_target(time=target_time)
        result = run_drill(
            get_settings(), repository=from_, target=target, backup_id=backup_id, step=out.info,
            timeline=parse_timeline_choice(target_timeline),
        )  # fmt: skip
        data = result.to_dict()
        out.result(data, lambda c: c.print(Markdown(render_markdown(data))))
        if not result.passed:
            raise typer.Exit(ActionExit.FAILED)


@app.command("report")
def report(
    event_id: Annotated[
        int | None, typer.Option("--id", help="The drill's event id (default: the newest).")
    ] = None,
    output_format: ReportFormatOption = "markdown",
    output: ReportOutputOption = None,
    json_output: JsonOption = False,
) -> None:
    """Print a recorded drill report (the newest by default) as Markdown or JSON."""
    out = Output(json_mode=json_output)
    with guarded(out):
        event = load_report(get_settings(), event_id=event_id)
        data = {"id": event.id, "recorded_at": event.at.isoformat(), **event.details}
        as_json = json_output or output_format == "json"
        text = json.dumps(data, indent=2, default=str) if as_json else render_markdown(data)
        if output is not None:
            output.write_text(text + "\n")
        out.result(data, lambda c: c.print(Markdown(text) if not as_json else text))


app.command("failover")(failover)
