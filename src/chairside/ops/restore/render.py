"""How restore plans and results look on a terminal (shared by the commands and the menu)."""

from __future__ import annotations

from collections.abc import Callable

from rich.console import Console

from chairside.cli.output import Output
from chairside.ops.restore.service import RestorePreview, RestoreResult


def render_preview(console: Console, preview: RestorePreview) -> None:
    """The plan of a restore, as the operator confirms it."""
    console.print(f"[bold]Restore plan[/] ({preview.request.kind().replace('_', ' ')})")
    console.print(f"  window       {preview.plan.window.describe()}")
    console.print(f"  backup       {preview.plan.backup.id}")
    console.print(f"  target       {preview.plan.target.describe()}")
    console.print(f"  destination  {preview.destination}")
    for number, text in enumerate(preview.steps, start=1):
        console.print(f"  {number}. {text}")


def render_result(console: Console, result: RestoreResult) -> None:
    """A finished restore."""
    console.print(
        f"[bold green]Restored[/] backup {result.preview.plan.backup.id} to "
        f"{result.preview.plan.target.describe()} in {result.seconds:.1f}s"
    )
    console.print(f"  data directory  {result.data_dir} (port {result.port})")
    console.print(
        f"  recovery ended  timeline {result.outcome.timeline}, LSN {result.outcome.end_lsn}, "
        f"last transaction {result.outcome.last_replayed_time or 'none replayed'}"
    )
    for note in result.notes:
        console.print(f"  {note}")


def with_progress(
    out: Output, work: Callable[[Callable[[str], None]], RestoreResult]
) -> RestoreResult:
    """Run ``work`` with a spinner showing its current step on a terminal; quiet otherwise."""
    if not out.interactive:
        return work(out.info)
    with out.console.status("starting the restore") as status:

        def step(message: str) -> None:
            out.info(message)
            status.update(message)

        return work(step)
