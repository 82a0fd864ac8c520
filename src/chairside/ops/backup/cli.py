"""``chairside backup …``: take backups, list them, show their status, prune them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from chairside.checks import CheckStatus
from chairside.cli.output import (
    CommandKind,
    DryRunOption,
    JsonOption,
    Output,
    YesOption,
    add_id_column,
    confirm,
    guarded,
    render_checks,
    status_style,
)
from chairside.config import get_settings

# Services are imported by the command that uses them, so that one command does not
# pay for importing all of them (docs/cli.md, "Start-up time").
if TYPE_CHECKING:
    from chairside.ops.backup.retention import PrunePlan
    from chairside.ops.backup.runner import BackupProgress, BackupResult
    from chairside.ops.backup.source import BackupOrigin

app = typer.Typer(help="Take, list, check and prune backups.", no_args_is_help=True)

DatabaseOption = Annotated[
    str | None, typer.Option("--database", "-d", help="Database to dump (default: the app's).")
]


class RichProgress:
    """A progress bar per step on the operator's terminal."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.task: TaskID | None = None
        self.label = ""

    def phase(self, label: str, total: int | None) -> None:
        if self.task is not None and label == self.label:
            self.progress.update(self.task, total=total)
            return
        if self.task is not None:
            self.progress.update(self.task, completed=self.progress.tasks[-1].total or 0)
        self.label = label
        self.task = self.progress.add_task(label, total=total)

    def advance(self, amount: int) -> None:
        if self.task is not None:
            self.progress.advance(self.task, amount)

    def update(self, completed: int) -> None:
        if self.task is not None:
            self.progress.update(self.task, completed=completed)


@contextmanager
def progress_for(out: Output) -> Iterator[BackupProgress]:
    """Bars on a terminal; nothing with --json or when piped."""
    from chairside.ops.backup.runner import SilentProgress

    if not out.interactive:
        yield SilentProgress()
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=out.err, transient=False) as progress:
        yield RichProgress(progress)


def _render_result(result: BackupResult) -> Callable[[Console], None]:
    def render(console: Console) -> None:
        m = result.manifest
        console.print(f"[bold green]{m.type} backup {m.id} complete[/] in {result.seconds:.1f} s")
        console.print(f"  stored    {_size(m.stored_size)} in {result.repository}")
        if m.start_wal:
            console.print(f"  WAL       {m.start_wal} .. {m.stop_wal} (timeline {m.timeline})")
        if m.database:
            console.print(f"  database  {m.database}")
        if m.extra.get("source_node"):
            console.print(f"  from      {m.extra['source']} {m.extra['source_node']}")
        console.print(f"  encrypted {'yes' if m.encryption else 'no'}")

    return render


class BackupFrom(StrEnum):
    primary = "primary"
    replica = "replica"


@app.command()
def full(
    from_: Annotated[
        BackupFrom | None,
        typer.Option(
            "--from",
            help="Copy the files from the primary or from a streaming replica that Patroni "
            "names in CHAIRSIDE_TOPOLOGY (default: CHAIRSIDE_BACKUP_FROM, else primary).",
        ),
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Physical base backup (pg_basebackup, server-side zstd) plus the WAL it needs."""
    from chairside.ops.backup.basebackup import take_full_backup

    out = Output(json_mode=json_output)
    origin: BackupOrigin | None = None
    if from_ is not None:
        origin = "replica" if from_ is BackupFrom.replica else "primary"
    with guarded(out), progress_for(out) as progress:
        result = take_full_backup(get_settings(), progress=progress, origin=origin)
    out.result(result.to_dict(), _render_result(result))


@app.command()
def logical(database: DatabaseOption = None, json_output: JsonOption = False) -> None:
    """pg_dump -Fc of one database (single-table restores, migrations)."""
    from chairside.ops.backup.dumps import take_logical_backup

    out = Output(json_mode=json_output)
    with guarded(out), progress_for(out) as progress:
        result = take_logical_backup(get_settings(), database=database, progress=progress)
    out.result(result.to_dict(), _render_result(result))


@app.command()
def schema(database: DatabaseOption = None, json_output: JsonOption = False) -> None:
    """pg_dump --schema-only of one database, as zstd-compressed SQL."""
    from chairside.ops.backup.dumps import take_schema_backup

    out = Output(json_mode=json_output)
    with guarded(out), progress_for(out) as progress:
        result = take_schema_backup(get_settings(), database=database, progress=progress)
    out.result(result.to_dict(), _render_result(result))


@app.command()
def incremental(
    timeout: Annotated[
        float | None, typer.Option(help="Seconds to wait for the segment (default: setting).")
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Switch WAL and confirm everything committed until now is in the repository."""
    from chairside.ops.backup.incremental import take_incremental_backup

    out = Output(json_mode=json_output)
    with guarded(out):
        result = take_incremental_backup(get_settings(), timeout=timeout)

    def render(console: Console) -> None:
        console.print(
            f"[bold green]WAL up to {result.segment} is in {result.repository}[/] "
            f"(confirmed in {result.waited_seconds:.1f} s)"
        )
        before = result.rpo_before_seconds
        console.print(
            "  RPO now 0 s; before this run: "
            + ("no WAL archived yet" if before is None else f"{before:.0f} s")
        )

    out.result(result.to_dict(), render)


@app.command("list")
def list_backups(
    all_backups: Annotated[
        bool, typer.Option("--all", help="Also show incomplete (never usable) backups.")
    ] = False,
    json_output: JsonOption = False,
) -> None:
    """Backups in the repository, oldest first; only complete ones unless --all."""
    import time

    from chairside.ops.backup import access
    from chairside.ops.backup.leftovers import find_leftovers

    out = Output(json_mode=json_output)
    with guarded(out):
        catalog = access.catalog(get_settings())
        catalog.require_identity()
        entries = catalog.list_backups(include_incomplete=all_backups)
        now = time.time()
        leftovers = find_leftovers(catalog.repository, now=now) if all_backups else []
    data: dict[str, object] = {
        "repository": catalog.repository.url,
        "backups": [e.to_dict() for e in entries],
    }
    if all_backups:
        data["leftovers"] = [leftover.report(now=now) for leftover in leftovers]

    def render(console: Console) -> None:
        table = Table(title=f"Backups in {catalog.repository.url}", title_justify="left")
        add_id_column(table, "id", [e.id for e in entries])
        for column in ("type", "state", "size", "WAL / database"):
            table.add_column(column, overflow="fold")
        for entry in entries:
            row = entry.to_dict()
            state = "[green]complete[/]" if entry.complete else f"[red]{entry.problem}[/]"
            where = row["database"] or (
                f"{row['start_wal']}..{row['stop_wal']}" if row["start_wal"] else ""
            )
            size = _size(row["stored_size"]) if row["stored_size"] is not None else "-"
            table.add_row(entry.id, row["type"], state, size, where)
        console.print(table if entries else "no backups yet: run `chairside backup full`")
        for leftover in leftovers:
            age = (now - leftover.modified) / 60
            console.print(
                f"  leftover {leftover.path}: {_size(leftover.size)}, {age:.0f} min old "
                "(an upload a killed process left; `backup prune` removes it)"
            )

    out.result(data, render)


@app.command()
def show(
    backup_id: Annotated[str, typer.Argument(help="The backup id (see `backup list`).")],
    json_output: JsonOption = False,
) -> None:
    """One complete backup's manifest (its marker verified); unknown or incomplete: exit 2."""
    from chairside.ops.backup import access

    out = Output(json_mode=json_output)
    with guarded(out):
        catalog = access.catalog(get_settings())
        catalog.require_identity()
        manifest = catalog.read_manifest(backup_id)
        validation = catalog.read_validation(backup_id)
    data = {"manifest": manifest.to_dict(), "validation": validation}

    def render(console: Console) -> None:
        console.print(f"[bold]{manifest.id}[/] ({manifest.type}), complete")
        console.print(
            f"  {manifest.start_time:%Y-%m-%d %H:%M:%S} .. {manifest.stop_time:%H:%M:%S} UTC"
        )
        if manifest.start_wal:
            console.print(
                f"  WAL {manifest.start_wal} .. {manifest.stop_wal}, LSN "
                f"{manifest.start_lsn} .. {manifest.stop_lsn}"
            )
        for entry in manifest.files:
            console.print(f"  {entry.name:24} {_size(entry.stored_size):>10}  {entry.sha256[:16]}…")
        if validation:
            console.print(
                f"  last validation: {validation.get('status')} ({validation.get('finished_at')})"
            )

    out.result(data, render)


@app.command()
def status(json_output: JsonOption = False) -> None:
    """Last backup, RPO, PITR window, last validation. Exit 0 ok, 1 warn, 2 crit, 3 unknown."""
    from chairside.ops.backup.status import backup_status

    out = Output(json_mode=json_output)
    with guarded(out, kind=CommandKind.CHECK):
        report = backup_status(get_settings())

    def render(console: Console) -> None:
        style = status_style(report.status)
        console.print(f"Backups in {report.repository}: [{style}]{report.status.value}[/]")
        for window in report.pitr:
            data = window.to_dict()
            console.print(
                f"  PITR timeline {window.timeline}{' (live)' if window.live else ''}: "
                f"{data['earliest'] or '-'} .. {data['latest'] or '-'}"
            )
            for gap in data["gaps"]:
                console.print(
                    f"    gap {gap['from']} .. {gap['to']} (missing {gap['missing_wal'] or '-'})"
                )
        validation = report.last_validation
        if validation:
            console.print(
                f"  last validation: {validation.get('backup_id')} "
                f"{validation.get('status')} at {validation.get('at')}"
            )
        render_checks(console, report.checks, "Backup status")

    out.result(report.to_dict(), render)
    out.exit_check(report.status if report.checks else CheckStatus.UNKNOWN)


@app.command()
def prune(
    prune_abandoned: Annotated[
        bool,
        typer.Option(
            "--prune-abandoned",
            help="Also let go of backups and WAL only abandoned timelines need (kept otherwise).",
        ),
    ] = False,
    dry_run: DryRunOption = False,
    yes: YesOption = False,
    json_output: JsonOption = False,
) -> None:
    """Delete backups and WAL the retention policy no longer needs (refused while locked)."""
    from chairside.ops.backup.retention import prune_backups

    out = Output(json_mode=json_output)

    def ask(plan: PrunePlan) -> None:
        out.info(plan.describe())
        confirm(out, f"Prune: {plan.describe()}?", yes=yes)

    with guarded(out):
        result = prune_backups(
            get_settings(), dry_run=dry_run, confirm=ask, prune_abandoned=prune_abandoned
        )

    def render(console: Console) -> None:
        plan = result.plan
        verb = "would" if result.dry_run else "did"
        console.print(f"Prune {verb}: {plan.describe()}")
        console.print(f"  live timeline {plan.live_timeline}: {plan.timeline_reason}")
        for entry in plan.timelines:
            kept = ", ".join(entry.kept) or "nothing"
            console.print(f"  timeline {entry.timeline}: keeps {kept} ({entry.note})")
        for backup_id, reasons in sorted(plan.keep.items()):
            console.print(f"  keep   {backup_id}: {'; '.join(reasons)}")
        for manifest in plan.delete:
            console.print(f"  delete {manifest.id}")
        for backup_id in plan.incomplete:
            console.print(f"  delete {backup_id} (incomplete)")
        if plan.wal:
            console.print(f"  delete WAL {plan.wal[0].name} .. {plan.wal[-1].name}")
        for leftover in plan.leftovers:
            console.print(f"  delete {leftover.path} (an upload a killed process left)")
        if result.dry_run and result.lock_held:
            console.print("[yellow]the repository is in use right now: prune would be refused[/]")

    out.result(result.to_dict(), render)


def _size(value: int) -> str:
    amount = float(value)
    for unit in ("B", "kB", "MB", "GB"):
        if amount < 1024 or unit == "GB":
            return f"{amount:.0f} {unit}" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1024
    return f"{amount:.1f} TB"
