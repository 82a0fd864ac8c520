"""``chairside restore``: full, pitr, interactive, window, cleanup, prune-previous."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from chairside.cli.output import (
    ActionExit,
    DryRunOption,
    JsonOption,
    Output,
    YesOption,
    add_id_column,
    confirm,
    guarded,
)
from chairside.config import get_settings
from chairside.durations import describe, parse_duration
from chairside.ops.backup import access
from chairside.ops.restore import copies as restored_copies
from chairside.ops.restore import service
from chairside.ops.restore.menu import run_menu
from chairside.ops.restore.plan import timeline_window
from chairside.ops.restore.render import render_preview, render_result, with_progress
from chairside.ops.restore.targets import LATEST, build_target
from chairside.ops.restore.timelines import live_timeline, parse_timeline_choice

app = typer.Typer(
    help="Restore the database: a full backup, a point in time, or interactively.",
    no_args_is_help=True,
)

ToOption = Annotated[
    Path | None,
    typer.Option("--to", help="Restore into this new directory (a side-by-side copy)."),
]
PortOption = Annotated[
    int | None,
    typer.Option("--port", min=1, max=65535, help="Port of the restored copy (default: free)."),
]
InPlaceOption = Annotated[
    bool,
    typer.Option(
        "--in-place",
        help="Replace the embedded cluster's data (kept as pg/data.previous-<stamp>).",
    ),
]
RepositoryOption = Annotated[
    str | None,
    typer.Option(
        "--repository",
        "--from",
        help="Restore from this repository, e.g. a DR copy (default: configured).",
    ),
]
TimelineOption = Annotated[
    str | None,
    typer.Option(
        "--target-timeline",
        help="current (the live cluster's), latest (newest in the archive) or a number "
        "(default: current when the live cluster answers, else latest).",
    ),
]
BackupAfterOption = Annotated[
    bool,
    typer.Option(
        "--backup-after/--no-backup-after",
        help="In place: start a full backup on the new timeline in the background afterwards.",
    ),
]


@app.command("full")
def full(
    backup_id: Annotated[
        str | None, typer.Argument(help="Backup id (default: the newest full backup).")
    ] = None,
    to: ToOption = None,
    port: PortOption = None,
    in_place: InPlaceOption = False,
    repository: RepositoryOption = None,
    target_timeline: TimelineOption = None,
    backup_after: BackupAfterOption = True,
    dry_run: DryRunOption = False,
    yes: YesOption = False,
    json_output: JsonOption = False,
) -> None:
    """Restore a full backup and replay all archived WAL after it (to the latest state)."""
    with guarded(Output(json_mode=json_output)):
        timeline = parse_timeline_choice(target_timeline)
    request = service.RestoreRequest(
        target=LATEST, backup_id=backup_id, to=to, port=port, in_place=in_place,
        repository=repository, timeline=timeline, backup_after=backup_after,
    )  # fmt: skip
    _run(request, dry_run=dry_run, yes=yes, json_output=json_output)


@app.command("pitr")
def pitr(
    target_time: Annotated[
        str | None, typer.Option("--target-time", help="ISO time, UTC unless an offset is given.")
    ] = None,
    target_lsn: Annotated[str | None, typer.Option("--target-lsn", help="e.g. 0/16B3748")] = None,
    target_xid: Annotated[str | None, typer.Option("--target-xid", help="Transaction id.")] = None,
    target_name: Annotated[
        str | None, typer.Option("--target-name", help="A pg_create_restore_point() name.")
    ] = None,
    target_immediate: Annotated[
        bool, typer.Option("--target-immediate", help="Stop as soon as the backup is consistent.")
    ] = False,
    exclusive: Annotated[
        bool, typer.Option("--exclusive", help="Stop just before the target, not after it.")
    ] = False,
    backup_id: Annotated[
        str | None, typer.Option("--backup", help="Start from this backup (default: chosen).")
    ] = None,
    to: ToOption = None,
    port: PortOption = None,
    in_place: InPlaceOption = False,
    repository: RepositoryOption = None,
    target_timeline: TimelineOption = None,
    backup_after: BackupAfterOption = True,
    dry_run: DryRunOption = False,
    yes: YesOption = False,
    json_output: JsonOption = False,
) -> None:
    """Restore to a point in time (or LSN, transaction, restore point) inside the window."""
    out = Output(json_mode=json_output)
    with guarded(out):
        target = build_target(
            time=target_time, lsn=target_lsn, xid=target_xid, name=target_name,
            immediate=target_immediate, exclusive=exclusive,
        )  # fmt: skip
        timeline = parse_timeline_choice(target_timeline)
    request = service.RestoreRequest(
        target=target, backup_id=backup_id, to=to, port=port, in_place=in_place,
        repository=repository, timeline=timeline, backup_after=backup_after,
    )  # fmt: skip
    _run(request, dry_run=dry_run, yes=yes, json_output=json_output)


@app.command("interactive")
def interactive(repository: RepositoryOption = None) -> None:
    """A terminal menu: pick a backup or a time, see what will happen, confirm."""
    out = Output(json_mode=False)
    with guarded(out):
        run_menu(get_settings(), out=out, repository=repository)


@app.command("window")
def window(
    repository: RepositoryOption = None,
    target_timeline: TimelineOption = None,
    json_output: JsonOption = False,
) -> None:
    """Show the recoverable window of a timeline: every range a restore can reach there."""
    out = Output(json_mode=json_output)
    with guarded(out):
        settings = get_settings()
        chosen, found = timeline_window(
            access.catalog(settings, repository), access.wal_archive(settings, repository),
            timeline=parse_timeline_choice(target_timeline), live=live_timeline(settings),
        )  # fmt: skip

        def render(console: Console) -> None:
            console.print(f"Timeline {chosen.timeline}: {chosen.reason}")
            console.print(f"Recoverable window: {found.describe()}")
            table = Table()
            add_id_column(table, "backup", [item.backup_id for item in found.ranges])
            for column in ("timeline", "from", "to", "WAL segments", "gap"):
                table.add_column(column, overflow="fold")
            for item in found.ranges:
                data = item.to_dict()
                table.add_row(
                    item.backup_id, str(data["timeline"]), str(data["earliest_time"]),
                    str(data["latest_time"]), str(data["wal_segments"]),
                    str(data["missing_segment"] or ""),
                )  # fmt: skip
            console.print(table)

        out.result(
            {**found.to_dict(), **chosen.to_dict(), "timeline_reason": chosen.reason}, render
        )


@app.command("cleanup")
def cleanup(json_output: JsonOption = False) -> None:
    """Finish or undo an interrupted in-place restore and stop its orphaned server."""
    out = Output(json_mode=json_output)
    with guarded(out):
        report = service.clean_interrupted_restore(get_settings())
        out.result(
            report.to_dict(),
            lambda c: c.print("\n".join(report.actions) or "nothing to clean up"),
        )


@app.command("prune-previous")
def prune_previous(
    keep: Annotated[int, typer.Option("--keep", min=0, help="Keep the newest N.")] = 0,
    dry_run: DryRunOption = False,
    yes: YesOption = False,
    json_output: JsonOption = False,
) -> None:
    """Delete the data directories that in-place restores kept (pg/data.previous-*)."""
    out = Output(json_mode=json_output)
    with guarded(out):
        settings = get_settings()
        doomed = service.prune_previous_data(settings, keep=keep, dry_run=True)
        if doomed and not dry_run:
            confirm(out, f"Delete {len(doomed)} previous data directories for good?", yes=yes)
            doomed = service.prune_previous_data(settings, keep=keep)
        names = [str(p) for p in doomed]
        out.result(
            {"dry_run": dry_run, "removed": [] if dry_run else names, "would_remove": names},
            lambda c: c.print(
                ("would remove: " if dry_run else "removed: ") + (", ".join(names) or "nothing")
            ),
        )


copies_app = typer.Typer(
    help="Restored copies left running by `restore ... --to`: list (default) and remove.",
    invoke_without_command=True,
)
app.add_typer(copies_app, name="copies")


@copies_app.callback()
def copies(ctx: typer.Context, json_output: JsonOption = False) -> None:
    """List restored copies: age, size, port, and whether their server runs."""
    if ctx.invoked_subcommand is not None:
        return
    out = Output(json_mode=json_output)
    with guarded(out):
        found = restored_copies.list_copies(get_settings())

        def render(console: Console) -> None:
            if not found:
                console.print("no restored copies")
                return
            table = Table("id", "data directory", "port", "age", "size", "running")
            for copy in found:
                row = copy.to_dict()
                table.add_row(
                    copy.id, str(copy.data_dir), str(copy.port or "-"),
                    describe(copy.age), f"{copy.size_bytes / 1024**2:.0f} MB",
                    f"yes (pid {copy.running_pid})" if row["running"] else "no",
                )  # fmt: skip
            console.print(table)

        out.result({"copies": [c.to_dict() for c in found]}, render)


@copies_app.command("remove")
def remove_copies(
    ids: Annotated[
        list[str] | None, typer.Argument(help="Copy ids (see `restore copies`); none: all.")
    ] = None,
    older_than: Annotated[
        str | None, typer.Option("--older-than", help="Only copies older than this (e.g. 1d).")
    ] = None,
    dry_run: DryRunOption = False,
    yes: YesOption = False,
    json_output: JsonOption = False,
) -> None:
    """Stop restored copies' servers (as the server user) and delete their directories."""
    out = Output(json_mode=json_output)
    with guarded(out):
        settings = get_settings()
        age = (
            None
            if older_than is None
            else parse_duration(older_than, maximum=timedelta(days=3650), field="--older-than")
        )
        plan = restored_copies.remove_copies(settings, ids=ids, older_than=age, dry_run=True)
        if plan.removed and not dry_run:
            confirm(out, f"Stop and delete {len(plan.removed)} restored copies?", yes=yes)
            plan = restored_copies.remove_copies(settings, ids=ids, older_than=age)
        names = [str(r["id"]) for r in plan.removed]
        out.result(
            plan.to_dict(),
            lambda c: c.print(
                ("would remove: " if dry_run else "removed: ")
                + (", ".join(names) or "nothing")
                + "".join(f"\nfailed {k}: {v}" for k, v in plan.failed.items())
            ),
        )
        if plan.failed:
            raise typer.Exit(ActionExit.FAILED)


def _run(request: service.RestoreRequest, *, dry_run: bool, yes: bool, json_output: bool) -> None:
    out = Output(json_mode=json_output)
    with guarded(out):
        settings = get_settings()
        preview = service.preview_restore(settings, request=request)
        if dry_run:
            out.result({"dry_run": True, **preview.to_dict()}, lambda c: render_preview(c, preview))
            return
        if request.in_place:
            if out.interactive:
                render_preview(out.console, preview)
            confirm(
                out,
                f"Replace the embedded database with backup {preview.plan.backup.id} at "
                f"{request.target.describe()}?",
                yes=yes,
            )
        result = with_progress(
            out, lambda step: service.restore_database(settings, request=request, step=step)
        )
        out.result({"dry_run": False, **result.to_dict()}, lambda c: render_result(c, result))
