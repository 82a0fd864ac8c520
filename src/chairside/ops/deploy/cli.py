"""``chairside maintenance-mode`` (switch maintenance and read-only modes) and
``chairside deploy`` (the deployment procedure around them)."""

from __future__ import annotations

import enum
from pathlib import Path
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
from chairside.ops.deploy import across, service
from chairside.ops.deploy.guard import pre_deploy_checks
from chairside.ops.deploy.modes import ModeState, ModeSwitch, switch_modes
from chairside.ops.deploy.release import Release
from chairside.ops.deploy.rolling import choose_hosts, plan_roll


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
    help="Deployments: guard, start (backup + maintenance mode), finish, verify, rollback;"
    " roll across the API hosts of a topology.",
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
def roll(
    release: Annotated[
        str, typer.Option("--release", help="The release's label (reported by each host).")
    ],
    python: Annotated[
        Path | None,
        typer.Option(
            "--python",
            help="The release's interpreter, e.g. /srv/chairside/releases/2.1/.venv/bin/python"
            " (default: this command's own).",
        ),
    ] = None,
    hosts: Annotated[
        list[str] | None,
        typer.Option("--host", help="API hosts to roll, in order (default: all of them)."),
    ] = None,
    reason: Annotated[
        str | None, typer.Option(help="What it brings; goes to the timeline.")
    ] = None,
    skip_migrations: Annotated[
        bool, typer.Option("--skip-migrations", help="Do not migrate the leader first.")
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Start despite critical pre-deploy checks.")
    ] = False,
    drain_timeout: Annotated[
        float, typer.Option(min=1, max=3600, help="Seconds a host may take to drain.")
    ] = 30.0,
    ready_timeout: Annotated[
        float, typer.Option(min=1, max=3600, help="Seconds a host may take to be ready.")
    ] = 90.0,
    dry_run: DryRunOption = False,
    json_output: JsonOption = False,
) -> None:
    """Across a topology (CHAIRSIDE_TOPOLOGY): guard once, migrate once on the leader
    (expand-only), then each API host in turn drained, put on the release, verified and
    put back; exit 1 if a host fails (it is put back on its previous release)."""
    out = Output(json_mode=json_output)
    with guarded(out):
        settings = get_settings()
        target = Release.make(release, python)
        if dry_run:
            topology = across.topology_of(settings)
            chosen = choose_hosts(topology, hosts)
            control = across.host_control(settings)
            steps = plan_roll(chosen, control.release_of, target)
            body = {
                "dry_run": True,
                "migrate": not skip_migrations,
                "steps": [s.to_dict() for s in steps],
            }
            out.result(
                body,
                lambda c: c.print(
                    "would roll "
                    + ", ".join(f"{s.host.name} {s.before.label} -> {s.after.label}" for s in steps)
                ),
            )
            return
        outcome = across.rolling_deploy(
            settings,
            release=target,
            hosts=hosts,
            reason=reason,
            migrate=not skip_migrations,
            force=force,
            options=across.RollOptions(drain_timeout=drain_timeout, ready_timeout=ready_timeout),
            step=out.info,
        )
    out.result(outcome.to_dict(), lambda c: _render_outcome(c, outcome, "Rolling deployment"))
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
    previous version and `deploy finish`. After `deploy roll`: every host back on the
    release it had, one at a time, the database as it is (exit 1 if a host fails)."""
    out = Output(json_mode=json_output)
    with guarded(out):
        rolling = across.is_rolling(get_settings())
    if rolling:
        _rolling_rollback(out, reason=reason, dry_run=dry_run, yes=yes)
        return

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


def _rolling_rollback(out: Output, *, reason: str, dry_run: bool, yes: bool) -> None:
    def ask(plan: across.RollingRollbackPlan) -> None:
        out.info(plan.describe())
        confirm(out, "Roll back now?", yes=yes)

    with guarded(out):
        plan, outcome = across.rolling_rollback(
            get_settings(), reason=reason, dry_run=dry_run, confirm=ask, step=out.info
        )
    if outcome is None:
        out.result(plan.to_dict(), lambda c: c.print("would " + plan.describe()))
        return
    body = {**outcome.to_dict(), "plan": plan.describe()}
    out.result(body, lambda c: _render_outcome(c, outcome, "Rolling rollback"))
    if outcome.record.state == "failed":
        raise typer.Exit(ActionExit.FAILED)


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
