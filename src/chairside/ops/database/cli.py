"""``chairside db``: migrations of the application database."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from chairside.cli.output import JsonOption, Output, guarded
from chairside.config import get_settings
from chairside.db import database_url
from chairside.ops.database import migrations

app = typer.Typer(help="The application database: migrations.", no_args_is_help=True)


@app.command()
def migrate(
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
    json_output: JsonOption = False,
) -> None:
    """Apply migrations up to REVISION (default: the newest)."""
    out = Output(json_mode=json_output)
    with guarded(out):
        before, after = migrations.upgrade(url=database_url(get_settings()), revision=revision)
        out.result(
            {"before": before, "after": after, "changed": before != after},
            lambda c: c.print(
                f"migrated {before or 'empty'} -> {after}"
                if before != after
                else f"already at {after}"
            ),
        )


@app.command()
def current(json_output: JsonOption = False) -> None:
    """Show the revision the database is at and the newest one the code knows."""
    out = Output(json_mode=json_output)
    with guarded(out):
        now = migrations.current_revision(url=database_url(get_settings()))
        head = migrations.head_revision()
        out.result(
            {"current": now, "head": head, "up_to_date": now == head},
            lambda c: c.print(
                f"current {now or 'none'}, head {head}"
                + ("" if now == head else "  (run `chairside db migrate`)")
            ),
        )


@app.command()
def history(json_output: JsonOption = False) -> None:
    """List every migration, oldest first, marking the applied ones."""
    out = Output(json_mode=json_output)
    with guarded(out):
        revisions = migrations.history(url=database_url(get_settings()))

        def render(console: Console) -> None:
            table = Table("revision", "applied", "description")
            for r in revisions:
                table.add_row(r.revision, "yes" if r.applied else "no", r.message)
            console.print(table)

        out.result({"revisions": [vars(r) for r in revisions]}, render)
