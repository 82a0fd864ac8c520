"""``chairside wal …``: PostgreSQL's archive_command / restore_command, and WAL streaming.

PostgreSQL runs ``push`` once per WAL segment, so this module is also an entry point of
its own (``python -m chairside.ops.backup.wal_cli push %p``, what archive_command uses):
it loads only what WAL needs, not every command group of ``chairside``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from chairside.cli.output import JsonOption, Output, guarded
from chairside.config import get_settings
from chairside.ops.backup import access, archiving

app = typer.Typer(
    help="Archive and fetch WAL (PostgreSQL calls these), or stream it with pg_receivewal.",
    no_args_is_help=True,
)


@app.command()
def push(
    path: Annotated[Path, typer.Argument(help="The WAL file (%p in archive_command).")],
    json_output: JsonOption = False,
) -> None:
    """Archive one WAL file. Same file again: success; different content: failure (exit 2)."""
    out = Output(json_mode=json_output)
    with guarded(out):
        result = access.wal_archive(get_settings()).push(path, data_dir=Path.cwd())
        out.result(
            {
                "name": result.name,
                "key": result.key,
                "stored": result.stored,
                "size": result.size,
                "stored_size": result.stored_size,
            },
            lambda c: c.print(
                f"{result.name} {'archived' if result.stored else 'already archived'}"
                f" ({result.size} -> {result.stored_size} bytes)"
            ),
        )


@app.command()
def fetch(
    name: Annotated[str, typer.Argument(help="The WAL file name (%f in restore_command).")],
    destination: Annotated[Path, typer.Argument(help="Where to write it (%p).")],
    json_output: JsonOption = False,
) -> None:
    """Restore one archived WAL file (verified and decrypted). Not archived: exit 2."""
    out = Output(json_mode=json_output)
    with guarded(out):
        entry = access.wal_archive(get_settings()).fetch(name, destination)
        out.result({"name": entry.name, "key": entry.key, "path": str(destination)}, lambda c: None)


@app.command("archive-command")
def show_archive_command(json_output: JsonOption = False) -> None:
    """Print the archive_command and restore_command for this configuration."""
    out = Output(json_mode=json_output)
    with guarded(out):
        settings = get_settings()
        data = {
            "archive_command": archiving.archive_command(settings),
            "restore_command": archiving.restore_command(settings),
            "repository": settings.backup_repository_url,
        }

        def render(console: Console) -> None:
            console.print(f"archive_command = '{data['archive_command']}'", soft_wrap=True)
            console.print(f"restore_command = '{data['restore_command']}'", soft_wrap=True)

        out.result(data, render)


@app.command()
def stream(
    synchronous: Annotated[
        bool,
        typer.Option(
            "--synchronous",
            help="Make commits wait until pg_receivewal has flushed them (no loss).",
        ),
    ] = False,
    slot: Annotated[str, typer.Option(help="Replication slot name.")] = "chairside",
    keep_slot: Annotated[
        bool,
        typer.Option("--keep-slot", help="Keep the replication slot after a clean stop."),
    ] = False,
    json_output: JsonOption = False,
) -> None:
    """Stream WAL with pg_receivewal (RPO ~1 s), pushing finished segments and the growing
    partial one; Ctrl-C stops (and drops the slot)."""
    # Imported here: push and fetch run once per WAL segment and must start fast.
    from chairside.ops.backup import streaming

    out = Output(json_mode=json_output)
    with guarded(out):
        settings = get_settings()
        streamer = streaming.WalStreamer.from_settings(
            settings, slot=slot, synchronous=synchronous, keep_slot=keep_slot
        )
        out.info(
            f"Streaming WAL from {streamer.source.host}:{streamer.source.port} into "
            f"{settings.backup_repository_url} (slot {slot}"
            f"{', synchronous' if synchronous else ''}); Ctrl-C stops."
        )
        summary = streamer.run()
        out.result(summary.to_dict(), lambda c: c.print(summary.describe()))


@app.command("sync-guard")
def sync_guard(
    once: Annotated[bool, typer.Option("--once", help="Look once and exit.")] = False,
    json_output: JsonOption = False,
) -> None:
    """Apply CHAIRSIDE_WAL_SYNC_POLICY to a server Chairside does not run (`up` does it itself)."""
    import time

    from chairside.ops.backup.source import source_cluster
    from chairside.ops.backup.sync_policy import SyncPolicyGuard
    from chairside.ops.notify.alerts import raise_alert

    out = Output(json_mode=json_output)
    with guarded(out):
        settings = get_settings()
        actions: list[str] = []

        def alert(kind: str, summary: str, severity: object, details: dict[str, object]) -> None:
            from chairside.ops.notify.base import Severity

            assert isinstance(severity, Severity)
            out.info(f"{kind}: {summary}")
            raise_alert(settings, kind, summary, severity=severity, details=details)

        guard = SyncPolicyGuard(settings, connect=source_cluster(settings).connect, alert=alert)
        try:
            while True:
                done = guard.tick()
                if done:
                    actions.append(done)
                if once:
                    break
                time.sleep(1.0)
        except KeyboardInterrupt:
            pass
        out.result(
            {"mode": settings.wal_mode, "policy": settings.wal_sync_policy, "actions": actions},
            lambda c: c.print(f"sync guard: {', '.join(actions) or 'nothing to do'}"),
        )


if __name__ == "__main__":
    app(prog_name="chairside wal")
