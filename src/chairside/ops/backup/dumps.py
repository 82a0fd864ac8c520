"""Logical and schema backups: ``pg_dump`` of one database.

``logical`` is ``pg_dump -Fc`` (custom format: ``pg_restore`` can restore one table, in
parallel, or list the contents), for single-table restores and migrations between
major versions. ``schema`` is ``pg_dump --schema-only`` as plain SQL, compressed with
zstd, for reviewing and diffing the schema. Neither replaces a full backup: no point in
time recovery, and no roles (those are cluster-wide).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from chairside.config import Settings
from chairside.errors import OperationFailedError
from chairside.ops.backup import codec
from chairside.ops.backup.processes import die_with_parent
from chairside.ops.backup.runner import BackupProgress, BackupResult, Produced, run_backup
from chairside.ops.backup.source import ServerFacts, SourceCluster
from chairside.ops.timeline.store import OpsStore


def take_logical_backup(
    settings: Settings,
    *,
    database: str | None = None,
    progress: BackupProgress | None = None,
    store: OpsStore | None = None,
) -> BackupResult:
    """Dump one database (default: the application's) with ``pg_dump -Fc``."""

    def produce(
        staging: Path, source: SourceCluster, _facts: ServerFacts, progress: BackupProgress
    ) -> Produced:
        progress.phase(f"pg_dump {source.dbname}", None)
        target = staging / f"{source.dbname}.dump"
        _pg_dump(source, ["-Fc", "-f", str(target)])
        return Produced(files=[target], database=source.dbname, compression="pg_dump")

    return run_backup(settings, "logical", produce, dbname=database, progress=progress, store=store)


def take_schema_backup(
    settings: Settings,
    *,
    database: str | None = None,
    progress: BackupProgress | None = None,
    store: OpsStore | None = None,
) -> BackupResult:
    """Dump one database's schema (no data) as zstd-compressed SQL."""
    level = settings.backup_compression_level

    def produce(
        staging: Path, source: SourceCluster, _facts: ServerFacts, progress: BackupProgress
    ) -> Produced:
        progress.phase(f"pg_dump --schema-only {source.dbname}", None)
        plain = staging / "schema.sql"
        _pg_dump(source, ["--schema-only", "--no-owner", "-f", str(plain)])
        target = staging / "schema.sql.zst"
        codec.compress_file(plain, target, level=level)
        plain.unlink()
        return Produced(files=[target], database=source.dbname, compression="zstd")

    return run_backup(settings, "schema", produce, dbname=database, progress=progress, store=store)


def _pg_dump(source: SourceCluster, options: list[str]) -> None:
    argv = [source.tool("pg_dump"), "-d", source.conninfo(), "--no-password", *options]
    result = subprocess.run(
        argv,
        env=source.env(),
        capture_output=True,
        text=True,
        check=False,
        preexec_fn=die_with_parent,
    )
    if result.returncode != 0:
        raise OperationFailedError(
            f"pg_dump of database {source.dbname!r} failed: {result.stderr.strip()}"
        )
