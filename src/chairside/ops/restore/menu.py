"""``chairside restore interactive``: the restore runbook as a terminal menu.

It asks, in order: what to restore to (the latest state, a backup as it was, or a
point in time inside the window shown), where (a side-by-side copy, or in place for the
embedded cluster), shows the plan exactly as ``--dry-run`` would, and only then asks
for confirmation. Bad answers are explained and asked again; nothing is changed until
the last "yes". This is an edge module (it talks to a person); every decision is made
by :mod:`chairside.ops.restore.service`.
"""

from __future__ import annotations

from rich.prompt import Confirm, Prompt

from chairside.cli.output import Output
from chairside.config import Settings
from chairside.errors import ChairsideError, GuardRefusedError
from chairside.ops.backup import access
from chairside.ops.restore import service
from chairside.ops.restore.plan import RecoverableWindow, recoverable_window
from chairside.ops.restore.render import render_preview, render_result, with_progress
from chairside.ops.restore.targets import IMMEDIATE, LATEST, RecoveryTarget, build_target


def run_menu(settings: Settings, *, out: Output, repository: str | None = None) -> None:
    """Ask, show the plan, confirm, restore (refused off a terminal: exit 3)."""
    if not out.interactive:
        raise GuardRefusedError(
            "restore interactive asks questions and needs a terminal; without one use "
            "`chairside restore full [ID]` or `restore pitr --target-time T` with --yes"
        )
    console = out.console
    window = recoverable_window(
        access.catalog(settings, repository), access.wal_archive(settings, repository)
    )
    console.print(f"[bold]Recoverable window:[/] {window.describe()}")
    if not window.ranges:
        raise GuardRefusedError("there is nothing to restore from; take `chairside backup full`")
    for number, item in enumerate(window.ranges, start=1):
        console.print(
            f"  backup {number}: {item.backup_id}  consistent at "
            f"{item.begin_time.isoformat(timespec='seconds')}"
        )
    choice = Prompt.ask(
        "Restore to [1] the latest state  [2] a backup as it was  [3] a point in time",
        choices=["1", "2", "3"],
        default="1",
        console=console,
    )
    backup_id: str | None = None
    target: RecoveryTarget = LATEST
    if choice == "2":
        numbers = [str(n) for n in range(1, len(window.ranges) + 1)]
        picked = Prompt.ask("Which backup", choices=numbers, default=numbers[-1], console=console)
        backup_id = window.ranges[int(picked) - 1].backup_id
        target = IMMEDIATE
    elif choice == "3":
        target = _ask_time(out, window)
    where = "1"
    if settings.embedded:
        where = Prompt.ask(
            "Where [1] a side-by-side copy (safe)  [2] in place (replaces the embedded database)",
            choices=["1", "2"],
            default="1",
            console=console,
        )
    request = service.RestoreRequest(
        target=target, backup_id=backup_id, in_place=where == "2", repository=repository
    )
    preview = service.preview_restore(settings, request=request)
    render_preview(console, preview)
    if not Confirm.ask("Proceed with this restore?", default=False, console=console):
        raise GuardRefusedError("cancelled at the prompt; nothing was changed")
    result = with_progress(
        out, lambda step: service.restore_database(settings, request=request, step=step)
    )
    render_result(console, result)


def _ask_time(out: Output, window: RecoverableWindow) -> RecoveryTarget:
    """A time inside the window; anything else is explained and asked again."""
    while True:
        text = Prompt.ask(
            "Target time (ISO 8601, UTC unless an offset is given)", console=out.console
        )
        try:
            target = build_target(time=text)
        except ChairsideError as exc:
            out.console.print(f"[red]{exc.message}[/]")
            continue
        assert target.time is not None
        if any(item.contains_time(target.time) for item in window.ranges):
            return target
        out.console.print(
            f"[red]{target.time.isoformat()} is outside the recoverable window "
            f"{window.describe()}; give a time inside it[/]"
        )
