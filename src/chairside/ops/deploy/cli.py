"""``chairside maintenance-mode`` (switch maintenance and read-only modes) and
``chairside deploy`` (the deployment procedure around them)."""

from __future__ import annotations

import enum
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from chairside.checks import worst
from chairside.cli.output import (
    ActionExit,
    CommandKind,
    DryRunOption,
    JsonOption,
    Output,
    YesOption,
    checks_payload,
    confirm,
    guarded,
    render_checks,
)
from chairside.config import get_settings
from chairside.ops.backup.cli import progress_for
from chairside.ops.deploy import service
from chairside.ops.deploy.guard import pre_deploy_checks
from chairside.ops.deploy.modes import ModeState, ModeSwitch, switch_modes


class Switch(enum.StrEnum):
    ON = "on"
    OFF = "off"
    STATUS = "status"


def maintenance_mode(
    switch: Annotated[Switch, typer.Argument(help="on, off, or status.")] = Switch.STATUS,
    read_only: Annotated[
        bool,
        typer.Option(
            "--read-only",
            help="Switch read-only mode instead (off --read-only leaves maintenance as is).",
        ),
    ] = False,
    reason: Annotated[str | None, typer.Option(help="Why; shown to clients.")] = None,
    json_output: JsonOption = False,
) -> None:
    """Answer 503 with Retry-After (maintenance) or refuse writes (--read-only); off clears both."""
    out = Output(json_mode=json_output)
    with guarded(out):
        settings = get_settings()
        if switch is Switch.STATUS:
            state = ModeSwitch(settings).current()
        else:
            state = switch_modes(
                settings, on=switch is Switch.ON, read_only=read_only, reason=reason
            )
        out.result(state.to_dict(), lambda c: c.print(_describe(state)))


def _describe(state: ModeState) -> str:
    parts = [
        f"maintenance {'ON' if state.maintenance else 'off'}",
        f"read-only {'ON' if state.read_only else 'off'}",
    ]
    if state.reason:
        parts.append(f"reason: {state.reason}")
    return ", ".join(parts)


app = typer.Typer(
    help="Deployments: guard, start (backup + maintenance mode), finish, verify, rollback.",
    no_args_is_help=True,
)


@app.command()
def guard(json_output: JsonOption = False) -> None:
    """May a deployment start now? Health, open incidents, deployments in progress (check)."""
    out = Output(json_mode=json_output)
    with guarded(out, CommandKind.CHECK):
        results = pre_deploy_checks(get_settings())
    out.result(checks_payload(results), lambda c: render_checks(c, results, "Before deploying"))
    out.exit_check(worst(r.status for r in results))


@app.command()
def start(
    version: Annotated[str, typer.Option("--version", help="The version being deployed.")],
    reason: Annotated[
        str | None, typer.Option(help="What it brings; goes to the timeline.")
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Start despite critical pre-deploy checks.")
    ] = False,
    skip_backup: Annotated[
        bool, typer.Option("--skip-backup", help="No full backup first (not recommended).")
    ] = False,
    json_output: JsonOption = False,
) -> None:
    """Guard, full backup, maintenance mode on; then install the code and `deploy finish`."""
    out = Output(json_mode=json_output)
    with guarded(out), progress_for(out) as progress:
        outcome = service.start_deploy(
            get_settings(),
            version=version,
            reason=reason,
            force=force,
            backup=not skip_backup,
            progress=progress,
        )
    out.result(outcome.to_dict(), lambda c: _render_outcome(c, outcome, "Deployment started"))


@app.command()
def finish(
    force: Annotated[
        bool, typer.Option("--force", help="Finish though the installed version differs.")
    ] = False,
    observe: Annotated[
        float,
        typer.Option(
            "--observe",
            min=0,
            max=3600,
            help="Seconds of live traffic to let the new version serve before judging it.",
        ),
    ] = 0.0,
    json_output: JsonOption = False,
) -> None:
    """Migrate, maintenance mode off, verify (health + smoke + the traffic served since);
    exit 1 if verification fails."""
    out = Output(json_mode=json_output)
    with guarded(out):
        outcome = service.finish_deploy(get_settings(), force=force, observe_seconds=observe)
    out.result(outcome.to_dict(), lambda c: _render_outcome(c, outcome, "Deployment finished"))
    if outcome.record.state == "failed":
        raise typer.Exit(ActionExit.FAILED)


@app.command()
def verify(json_output: JsonOption = False) -> None:
    """Health, the business smoke test, and p95 against the pre-deploy baseline (check)."""
    out = Output(json_mode=json_output)
    with guarded(out, CommandKind.CHECK):
        outcome = service.verify_deploy(get_settings())
    out.result(outcome.to_dict(), lambda c: _render_outcome(c, outcome, "Verification"))
    out.exit_check(outcome.status)


@app.command()
def rollback(
    reason: Annotated[str, typer.Argument(help="Why: goes to the timeline and to people.")],
    dry_run: DryRunOption = False,
    yes: YesOption = False,
    json_output: JsonOption = False,
) -> None:
    """Maintenance mode on, database back to its pre-deploy revision; then reinstall the
    previous version and `deploy finish`."""
    out = Output(json_mode=json_output)

    def ask(plan: service.RollbackPlan) -> None:
        out.info(plan.describe())
        confirm(out, "Roll back now?", yes=yes)

    with guarded(out):
        plan = service.rollback_deploy(get_settings(), reason=reason, dry_run=dry_run, confirm=ask)
    body = plan.to_dict()
    out.result(
        body,
        lambda c: c.print(
            ("would " if plan.dry_run else "") + plan.describe() + f"\nnext: {body['next_step']}"
        ),
    )


@app.command()
def history(
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 20, json_output: JsonOption = False
) -> None:
    """Deployments, failures and rollbacks from the ops timeline, newest first."""
    out = Output(json_mode=json_output)
    with guarded(out):
        events = service.deploy_history(get_settings(), limit=limit)

    def render(console: Console) -> None:
        table = Table("at", "event", "status", "summary")
        for event in events:
            table.add_row(event["at"][:19], event["kind"], event["status"], event["summary"])
        console.print(table)

    out.result({"events": events}, render)


def _render_outcome(console: Console, outcome: service.DeployOutcome, title: str) -> None:
    record = outcome.record
    if outcome.checks:
        render_checks(console, outcome.checks, title)
    console.print(
        f"deployment {record.id}: {record.version_before} -> {record.version}, {record.state}"
    )
    for step in record.steps:
        console.print(f"  {step['at']}  {step['step']}: {step['summary']}")
    if outcome.next_step:
        console.print(f"next: {outcome.next_step}")
