"""``chairside maintenance``: the weekly job and its parts (database, logs, system)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

import typer
from rich.console import Console

from chairside.cli.output import (
    CommandKind,
    DryRunOption,
    JsonOption,
    Output,
    checks_payload,
    guarded,
    render_checks,
)
from chairside.config import get_settings
from chairside.durations import parse_duration
from chairside.ops.maintenance.service import (
    MaintenanceKind,
    MaintenanceOptions,
    MaintenanceRun,
    run_maintenance,
)


def maintenance(
    kind: Annotated[
        MaintenanceKind, typer.Argument(help="full (the weekly job), database, logs or system.")
    ] = MaintenanceKind.FULL,
    reindex_all: Annotated[
        bool, typer.Option("--reindex-all", help="Rebuild every index, not only invalid ones.")
    ] = False,
    log_max_mb: Annotated[
        int, typer.Option("--log-max-mb", min=1, help="Rotate log files larger than this.")
    ] = 50,
    log_keep: Annotated[
        str, typer.Option("--log-keep", help="Delete rotated logs older than this (e.g. 14d).")
    ] = "14d",
    stale_after: Annotated[
        str, typer.Option("--stale-after", help="Leftovers older than this are removed.")
    ] = "24h",
    dry_run: DryRunOption = False,
    json_output: JsonOption = False,
) -> None:
    """Vacuum, reindex, rotate logs, clear leftovers, review (exit 0 ok, 1 warn, 2 crit)."""
    out = Output(json_mode=json_output)
    with guarded(out, CommandKind.CHECK):
        options = MaintenanceOptions(
            reindex_all=reindex_all,
            log_max_bytes=log_max_mb * 1024 * 1024,
            log_keep=parse_duration(log_keep, maximum=timedelta(days=3650), field="--log-keep"),
            stale_after=parse_duration(
                stale_after, maximum=timedelta(days=3650), field="--stale-after"
            ),
        )
        run = run_maintenance(get_settings(), kind, options=options, dry_run=dry_run, step=out.info)
    out.result({**run.to_dict(), **checks_payload(run.results)}, lambda c: _render(c, run))
    out.exit_check(run.status)


def _render(console: Console, run: MaintenanceRun) -> None:
    title = f"Maintenance {run.kind.value}" + (" (dry run)" if run.dry_run else "")
    render_checks(console, run.results, title)
