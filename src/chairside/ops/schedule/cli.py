"""``chairside schedule list|run|export``: the runbooks' schedules, run by one leader."""

from __future__ import annotations

import shutil
import signal
import subprocess
import threading
from pathlib import Path
from types import FrameType
from typing import Annotated, Literal

import typer
from rich.console import Console
from rich.table import Table

from chairside.cli.output import ActionExit, DryRunOption, JsonOption, Output, guarded
from chairside.config import Settings, get_settings
from chairside.errors import InputError
from chairside.ops.schedule.export import Export, export_crontab, export_systemd
from chairside.ops.schedule.jobs import Job, chairside_executable, default_jobs, find_job
from chairside.ops.schedule.leader import leader_lock
from chairside.ops.schedule.pause import pause_schedule, read_pause, resume_schedule
from chairside.ops.schedule.scheduler import JobState, PassResult, Scheduler, schedule_start
from chairside.ops.timeline.store import open_ops_store

app = typer.Typer(help="The ops schedule: list the jobs, run them as leader, export for cron.")


def build_scheduler(settings: Settings, jobs: tuple[Job, ...] | None = None) -> Scheduler:
    """The scheduler of these settings: the default job table, the ops store, the lock."""
    store = open_ops_store(settings)
    return Scheduler(
        jobs if jobs is not None else default_jobs(settings),
        settings=settings,
        store=store,
        lock=leader_lock(settings),
        # Once `chairside up` has run the schedule here, jobs never run wait for a slot.
        starts_at=schedule_start(store),
    )


@app.command("list")
def list_jobs(json_output: JsonOption = False) -> None:
    """The jobs, their cadence (UTC), last run and next due time."""
    out = Output(json_mode=json_output)
    with guarded(out):
        scheduler = build_scheduler(get_settings())
        now = scheduler.clock()
        states = scheduler.states(now)
        data = {
            "now": now.isoformat(),
            "paused": read_pause(scheduler.settings).to_dict(),
            "jobs": [state.to_dict() for state in states],
        }
        out.result(data, lambda console: _render_states(console, states))


@app.command("run")
def run(
    once: Annotated[
        bool, typer.Option("--once", help="One pass: run what is due now, then exit.")
    ] = False,
    job_name: Annotated[
        str | None, typer.Option("--job", help="Only this job (with --once).")
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="With --job: run it now even if it is not due.")
    ] = False,
    dry_run: DryRunOption = False,
    json_output: JsonOption = False,
) -> None:
    """Run due jobs as the leader. --once: exit 0 all ok, 1 a job failed, 3 not leader."""
    out = Output(json_mode=json_output)
    with guarded(out):
        settings = get_settings()
        scheduler = build_scheduler(settings)
        if not once:
            if job_name or force or dry_run:
                raise InputError("--job, --force and --dry-run go with --once", field="once")
            _run_forever(scheduler, out)
            return
        if force and not job_name:
            raise InputError("--force needs --job NAME: it runs one job now", field="force")
        only = [find_job(scheduler.jobs, job_name)] if job_name else None
        result = scheduler.run_once(only=only, dry_run=dry_run, force=force)
        out.result(result.to_dict(), lambda console: _render_pass(console, result))
        if not result.leader:
            raise typer.Exit(ActionExit.REFUSED)
        if not result.ok:
            raise typer.Exit(ActionExit.FAILED)


@app.command("pause")
def pause(
    reason: Annotated[str | None, typer.Option(help="Why; goes to the timeline.")] = None,
    json_output: JsonOption = False,
) -> None:
    """Hold every job (in `up` and in `schedule run`) until `schedule resume`."""
    out = Output(json_mode=json_output)
    with guarded(out):
        state = pause_schedule(get_settings(), reason=reason)
        out.result(state.to_dict(), lambda c: c.print("the ops schedule is paused"))


@app.command("resume")
def resume(json_output: JsonOption = False) -> None:
    """End a pause: due jobs run on the scheduler's next pass (one run, not one per slot)."""
    out = Output(json_mode=json_output)
    with guarded(out):
        state = resume_schedule(get_settings())
        out.result(state.to_dict(), lambda c: c.print("the ops schedule runs again"))


def _run_forever(scheduler: Scheduler, out: Output) -> None:
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    out.info(f"scheduler started with {len(scheduler.jobs)} jobs; Ctrl-C or SIGTERM stops it")
    scheduler.run_forever(stop, on_event=out.info)
    out.info("scheduler stopped")


@app.command("export")
def export(
    output_format: Annotated[
        Literal["crontab", "systemd"], typer.Option("--format", help="crontab or systemd.")
    ],
    output: Annotated[
        Path | None,
        typer.Option("--output", help="Write the files into this directory (default: print)."),
    ] = None,
    environment_file: Annotated[
        str | None,
        typer.Option("--environment-file", help="systemd: EnvironmentFile= for the services."),
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Write the schedule as a crontab or systemd timers. Exit 1 if a job could not be."""
    out = Output(json_mode=json_output)
    with guarded(out):
        settings = get_settings()
        jobs = default_jobs(settings)
        executable = chairside_executable()
        if output_format == "crontab":
            result = export_crontab(jobs, executable=executable)
        else:
            result = export_systemd(jobs, executable=executable, environment_file=environment_file)
        validated = _validate_calendars(result)
        paths = _write(result, output) if output is not None else [None] * len(result.files)
        data = {
            "format": result.format,
            "files": [
                {"name": item.name, "path": None if path is None else str(path), "text": item.text}
                for item, path in zip(result.files, paths, strict=True)
            ],
            "skipped": result.skipped,
            "validated": validated,
        }
        out.result(data, lambda console: _render_export(console, result, output))
        if result.skipped:
            raise typer.Exit(ActionExit.FAILED)


def _write(result: Export, directory: Path) -> list[Path | None]:
    if directory.exists() and not directory.is_dir():
        raise InputError(f"--output {directory} is a file; give a directory", field="output")
    directory.mkdir(parents=True, exist_ok=True)
    paths: list[Path | None] = []
    for item in result.files:
        path = directory / item.name
        path.write_text(item.text)
        paths.append(path)
    return paths


def _validate_calendars(result: Export) -> bool | None:
    """Check each OnCalendar= with ``systemd-analyze calendar`` when it is installed.

    A rejected one drops that job's units from the export (and lists it as skipped).
    None: not a systemd export, or systemd-analyze is not installed.
    """
    analyze = shutil.which("systemd-analyze")
    if result.format != "systemd" or analyze is None:
        return None
    rejected: set[str] = set()
    for item in result.files:
        for line in item.text.splitlines():
            if not line.startswith("OnCalendar="):
                continue
            check = subprocess.run(
                [analyze, "calendar", line.removeprefix("OnCalendar=")],
                capture_output=True,
                text=True,
                check=False,
            )
            if check.returncode != 0:
                unit = item.name.removesuffix(".timer")
                rejected.add(unit)
                result.skipped[unit.removeprefix("chairside-")] = (
                    f"systemd-analyze rejects {line}: {check.stderr.strip()}"
                )
    result.files = [f for f in result.files if f.name.rsplit(".", 1)[0] not in rejected]
    return not rejected


def _render_states(console: Console, states: list[JobState]) -> None:
    table = Table(title="ops schedule (UTC)", title_justify="left")
    for column in ("job", "cadence", "command", "last run", "status", "next due"):
        table.add_column(column)
    for state in states:
        last = state.last_run
        table.add_row(
            state.job.name,
            state.job.cadence,
            " ".join(state.job.argv),
            last.started_at.strftime("%Y-%m-%d %H:%M") if last else "never",
            "" if last is None else last.status,
            ("held: " + state.held if state.held else "due now")
            if state.due
            else state.next_due.strftime("%Y-%m-%d %H:%M"),
        )
    console.print(table)


def _render_pass(console: Console, result: PassResult) -> None:
    if not result.leader:
        console.print(f"not leader: {result.reason} ({result.lock}); nothing run")
        return
    for name, why in result.held.items():
        console.print(f"held {name}: {why}")
    if not result.due:
        console.print("no job is due")
        return
    if result.dry_run:
        console.print("would run: " + ", ".join(result.due))
        return
    for run in result.runs:
        style = "green" if run.ok else "bold red"
        console.print(f"[{style}]{run.status}[/] {run.summary()}")


def _render_export(console: Console, result: Export, output: Path | None) -> None:
    for item in result.files:
        if output is None:
            # Written as is: a crontab line wrapped at the terminal's width would break it.
            console.file.write(f"# --- {item.name}\n{item.text}")
        else:
            console.print(f"wrote {output / item.name}")
    for name, reason in result.skipped.items():
        console.print(f"[bold red]not exported:[/] {name}: {reason}")
