"""``chairside backup sync [incremental|full] --to REPO``: copy backups to a DR repository."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn
from rich.table import Table

from chairside.cli.output import (
    ActionExit,
    DryRunOption,
    JsonOption,
    Output,
    YesOption,
    confirm,
    guarded,
)
from chairside.config import get_settings
from chairside.errors import InputError

if TYPE_CHECKING:
    from chairside.ops.backup.sync.service import SyncPlan, SyncReport


def sync(
    mode: Annotated[
        str,
        typer.Argument(
            help="incremental: send what the target lacks; full: also re-check every object "
            "already there (size and SHA-256) and mend what differs."
        ),
    ] = "incremental",
    to: Annotated[
        str, typer.Option("--to", help="The DR repository: a path or s3://bucket/prefix[?…].")
    ] = "",
    from_: Annotated[
        str | None,
        typer.Option("--from", help="Source repository (default: CHAIRSIDE_BACKUP_REPOSITORY)."),
    ] = None,
    keep: Annotated[
        int | None,
        typer.Option("--keep", help="DR retention: keep the newest N backups of each type."),
    ] = None,
    keep_days: Annotated[
        float | None,
        typer.Option("--keep-days", help="DR retention: keep what recovers the last D days."),
    ] = None,
    dry_run: DryRunOption = False,
    yes: YesOption = False,
    json_output: JsonOption = False,
) -> None:
    """Copy complete backups and the WAL they need to another repository (resumable)."""
    from chairside.ops.backup.sync.operation import execute_sync, prepare_sync, sync_lock
    from chairside.ops.backup.sync.service import SYNC_MODES

    out = Output(json_mode=json_output)
    with guarded(out):
        if mode not in SYNC_MODES:
            raise InputError(
                f"sync mode {mode!r} is unknown; use incremental or full", field="mode"
            )
        if not to:
            raise InputError("--to is required: the DR repository to copy into", field="to")
        settings = get_settings()
        with sync_lock(settings, target_url=to, source_url=from_):
            prepared = prepare_sync(
                settings,
                target_url=to,
                mode=mode,
                source_url=from_,
                keep=keep,
                keep_days=keep_days,
            )
            plan = prepared.plan
            if dry_run:
                prepared.discard()
                out.result({"dry_run": True, **plan.to_dict()}, lambda c: _render_plan(c, plan))
                return
            if plan.deletes:
                try:
                    confirm(
                        out,
                        f"DR retention ({plan.policy.describe()}) will delete "
                        f"{len(plan.prune_backups)} backups and {len(plan.prune_wal)} WAL "
                        f"objects from {plan.target.url}. Go on?",
                        yes=yes,
                    )
                except BaseException:
                    prepared.discard()
                    raise
            with _progress_bar(out, plan.bytes_to_send) as advance:
                report = execute_sync(settings, prepared, progress=advance)
        out.result(report.to_dict(), lambda c: _render_report(c, report))
        if not report.ok:
            raise typer.Exit(ActionExit.FAILED)


@contextmanager
def _progress_bar(out: Output, total: int) -> Iterator[Callable[[int], None] | None]:
    if not out.interactive or total == 0:
        yield None
        return
    columns = (BarColumn(), DownloadColumn(), TransferSpeedColumn())
    with Progress(*columns, console=out.err, transient=True) as bar:
        task = bar.add_task("sync", total=total)
        yield lambda size: bar.advance(task, size)


def _render_plan(console: Console, plan: SyncPlan) -> None:
    console.print(
        f"[bold]{plan.mode} sync[/] {plan.source.url} -> {plan.target.url} (dry run, "
        f"{plan.policy.describe()})"
    )
    table = Table(show_header=True, title_justify="left")
    table.add_column("backup")
    table.add_column("action")
    table.add_column("files", justify="right")
    table.add_column("bytes", justify="right")
    for transfer in plan.backups:
        table.add_row(transfer.id, transfer.action, str(len(transfer.files)), str(transfer.bytes))
    for backup_id in plan.backups_in_sync:
        table.add_row(backup_id, "in sync", "", "")
    for backup_id in plan.prune_backups:
        table.add_row(backup_id, "[yellow]prune[/]", "", "")
    console.print(table)
    console.print(
        f"WAL: {len(plan.wal)} to send, {plan.wal_in_sync} in sync, {len(plan.prune_wal)} to "
        f"prune; {plan.bytes_to_send} bytes to send in all"
    )


def _render_report(console: Console, report: SyncReport) -> None:
    plan = report.plan
    console.print(
        f"[bold]{plan.mode} sync[/] to {plan.target.url}: {len(report.backups_sent)} backups "
        f"and {report.wal_sent} WAL sent ({report.bytes_sent} bytes, "
        f"{report.throughput_mb_s:.1f} MB/s), {len(plan.backups_in_sync)} backups already "
        f"in sync, {len(report.backups_pruned)} pruned"
    )
    for failure in report.failed:
        what = failure.get("backup") or failure.get("object")
        console.print(f"[bold red]failed[/] {what}: {failure['error']}")
