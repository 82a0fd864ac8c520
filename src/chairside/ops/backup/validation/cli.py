"""``chairside backup validate [ID] [--integrity-only] [--full-test]``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from chairside.cli.output import CommandKind, JsonOption, Output, guarded, status_style
from chairside.config import get_settings
from chairside.errors import InputError

if TYPE_CHECKING:
    from chairside.ops.backup.validation.service import ValidationRun


def validate(
    backup_id: Annotated[
        str | None,
        typer.Argument(help="Backup id, or latest (default: every backup)."),
    ] = None,
    integrity_only: Annotated[
        bool, typer.Option("--integrity-only", help="Checksums, marker and decryption only.")
    ] = False,
    full_test: Annotated[
        bool,
        typer.Option("--full-test", help="Also restore into a scratch cluster and check it."),
    ] = False,
    repository: Annotated[
        str | None,
        typer.Option(
            "--repository", "--from", help="Validate this repository (e.g. a DR copy) instead."
        ),
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Validate backups. Exit 0 ok, 1 warning, 2 critical, 3 unknown (could not check)."""
    from chairside.ops.backup.validation.service import ValidationLevel, validate_backups

    out = Output(json_mode=json_output)
    with guarded(out, kind=CommandKind.CHECK):
        if integrity_only and full_test:
            raise InputError(
                "--integrity-only and --full-test contradict each other; give one of them",
                field="level",
            )
        level = ValidationLevel.CONTINUITY
        if integrity_only:
            level = ValidationLevel.INTEGRITY
        elif full_test:
            level = ValidationLevel.FULL
        run = validate_backups(
            get_settings(), backup_id=backup_id, level=level, repository=repository,
            step=out.info,
        )  # fmt: skip
        out.result(run.to_dict(), lambda c: render_run(c, run))
        out.exit_check(run.status)


def render_run(console: Console, run: ValidationRun) -> None:
    """One table per backup: each check, its status and what it found."""
    if not run.backups:
        console.print(f"no backups in {run.repository}")
    for backup in run.backups:
        table = Table(
            title=f"{backup.backup_id} ({run.level.value})", title_justify="left", expand=False
        )
        table.add_column("check")
        table.add_column("status")
        table.add_column("summary", overflow="fold")
        for check in backup.checks:
            style = status_style(check.status)
            table.add_row(check.name, f"[{style}]{check.status.value}[/]", check.summary)
        console.print(table)
    style = status_style(run.status)
    console.print(f"overall: [{style}]{run.status.value}[/]")
