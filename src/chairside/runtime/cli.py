"""``chairside up`` and ``chairside status``."""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import partial
from threading import Event
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
from chairside.config import Settings, get_settings, load_settings
from chairside.demo import demo_logins, seed_demo
from chairside.errors import ChairsideError, LockHeldError
from chairside.ops.backup.archiving import configure_archiving
from chairside.ops.backup.first import ensure_first_full_backup
from chairside.ops.database.statistics import preload_statement_stats
from chairside.ops.schedule.jobs import default_jobs
from chairside.ops.schedule.leader import leader_lock
from chairside.ops.schedule.runner import utc_now
from chairside.ops.schedule.scheduler import Scheduler, start_schedule
from chairside.ops.timeline.store import open_ops_store
from chairside.runtime import serve
from chairside.runtime.status import collect_status


def up(
    demo: Annotated[bool, typer.Option("--demo", help="Seed a demo shop to try the API.")] = False,
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.", min=1, max=65535)] = None,
    workers: Annotated[
        int | None,
        typer.Option(help="API worker processes (default CHAIRSIDE_WORKERS, 1).", min=1, max=64),
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Run Chairside: embedded PostgreSQL and Redis, migrations, the API. Ctrl-C stops all."""
    out = Output(json_mode=json_output)
    with guarded(out):
        settings = get_settings()
        if workers is not None and workers != settings.workers:
            # Checked against the pool and the connection budget like the setting is, and
            # handed to the worker processes, which size their shares of the CPUs by it.
            settings = load_settings(workers=workers)
            os.environ["CHAIRSIDE_WORKERS"] = str(workers)
        if settings.embedded:
            out.info(f"Embedded mode: PostgreSQL and Redis under {settings.home}")
            for action in recover_interrupted_restore(settings):
                out.info(f"[yellow]interrupted in-place restore:[/] {action}")

        def announce(info: serve.ServiceInfo) -> None:
            def render(console: Console) -> None:
                console.print(f"[bold green]Chairside is up[/] at {info.api_url}")
                console.print(f"  web app    {info.api_url}/ (clients and shop owners)")
                console.print(f"  API docs   {info.api_url}/docs")
                console.print(f"  health     {info.api_url}/health")
                console.print(f"  metrics    {info.api_url}/metrics")
                console.print(f"  ops        {info.api_url}/ops (console, admins)")
                console.print(f"  database   {info.database}")
                console.print(f"  redis      {info.redis or 'not running (degraded: no Redis)'}")
                if info.demo:
                    console.print(f"  demo       {info.demo}")
                    for role, login in demo_logins().items():
                        console.print(
                            f"  demo {role:<6} {login['email']} / {login['password']}  "
                            f"(log in at {info.api_url}/login, then {login['page']})"
                        )
                console.print("Press Ctrl-C to stop everything.")

            facts = info.to_dict()
            if info.demo:
                facts["demo_logins"] = demo_logins()
            out.result(facts, render)

        try:
            serve.run_service(
                settings,
                host=host or settings.host,
                port=port or settings.port,
                workers=settings.workers,
                demo=demo,
                configurers=(configure_archiving, preload_statement_stats),
                seed_demo=seed_demo,
                announce=announce,
                background=_background(settings, out),
            )
        except KeyboardInterrupt:
            pass
        out.info("Chairside stopped; PostgreSQL and Redis are down.")


def recover_interrupted_restore(settings: Settings) -> tuple[str, ...]:
    """Undo a killed in-place restore before the embedded cluster starts (up starts it)."""
    from chairside.ops.restore.service import clean_interrupted_restore

    try:
        return clean_interrupted_restore(settings, start=False).actions
    except LockHeldError as exc:
        return (f"not checked: {exc.message}",)


def status(json_output: JsonOption = False) -> None:
    """Show each component and its state. Exit 0 ok, 1 warning, 2 critical, 3 unknown."""
    out = Output(json_mode=json_output)
    with guarded(out, kind=CommandKind.CHECK):
        results = collect_status(get_settings())
        out.result(checks_payload(results), lambda c: render_checks(c, results, "Chairside"))
        out.exit_check(worst(r.status for r in results))


def _background(settings: Settings, out: Output) -> tuple[Callable[[Event], None], ...]:
    """What `up` runs beside the API on its embedded default."""
    if not settings.embedded:
        return ()
    tasks: list[Callable[[Event], None]] = [
        partial(_supervise, settings, out),
        partial(_first_backup, settings, out),
    ]
    if settings.schedule_in_process:
        tasks.append(partial(_run_schedule, settings, out))
    return tuple(tasks)


def _run_schedule(settings: Settings, out: Output, stop: Event) -> None:
    """The ops schedule, led by this process until `up` stops. Jobs never run wait for
    their first slot after the schedule's first start on this home, so a fresh `up` does
    not start a drill, a full backup and the weekly maintenance all at once."""
    store = open_ops_store(settings)
    scheduler = Scheduler(
        default_jobs(settings),
        settings=settings,
        store=store,
        lock=leader_lock(settings),
        starts_at=start_schedule(store, now=utc_now()),
    )
    try:
        scheduler.run_forever(stop, on_event=lambda message: out.info(f"schedule: {message}"))
    except ChairsideError as exc:
        out.info(f"[yellow]the ops schedule stopped:[/] {exc.message} (`chairside schedule run`)")


def _supervise(settings: Settings, out: Output, stop: Event) -> None:
    """Restart a crashed PostgreSQL or Redis, keep archive_timeout, apply the sync policy."""
    # Imported here: `chairside status` and friends load this module too.
    from chairside.ops.backup.source import source_cluster
    from chairside.ops.backup.sync_policy import SyncPolicyGuard
    from chairside.ops.backup.wal_watch import WalWatch
    from chairside.ops.locks import is_locked
    from chairside.ops.notify.alerts import raise_alert
    from chairside.ops.notify.base import Severity
    from chairside.ops.restore.service import RESTORE_LOCK
    from chairside.runtime.embedded import embedded_stack
    from chairside.runtime.supervisor import Supervisor

    def alert(kind: str, summary: str, severity: str) -> None:
        out.info(f"{'[red]' if severity == 'critical' else '[yellow]'}{kind}:[/] {summary}")
        raise_alert(settings, kind, summary, severity=Severity(severity))

    source = source_cluster(settings)
    watch = WalWatch(settings, connect=source.connect)
    guard = SyncPolicyGuard(
        settings,
        connect=source.connect,
        alert=lambda kind, summary, severity, details: alert(kind, summary, severity.value),
    )
    supervisor = Supervisor(
        embedded_stack(settings),
        alert=alert,
        ticks=(watch.tick, guard.tick),
        after_restart=(watch.after_restart,),
        paused=lambda: is_locked(settings.home, RESTORE_LOCK),
    )
    supervisor.run(stop)


def _first_backup(settings: Settings, out: Output, stop: Event) -> None:
    """Take the first base backup in the background, so PITR works from the first minute."""
    try:
        backup_id = ensure_first_full_backup(settings)
    except ChairsideError as exc:
        out.info(
            f"[yellow]first base backup failed:[/] {exc.message} (run `chairside backup full`)"
        )
        return
    if backup_id is not None:
        out.info(f"First base backup {backup_id} taken: point-in-time recovery starts here.")
