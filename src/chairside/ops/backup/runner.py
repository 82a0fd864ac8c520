"""Taking any backup, the same careful way: lock, identity, stage, upload, manifest, marker.

Each backup type only says how to *produce* its files into a staging directory
(:class:`Producer`); this module does everything that makes the result trustworthy:

1. the key is loaded first, so "encryption configured, key missing" fails before
   anything is written;
2. the repository lock is held shared (prune waits) and the type lock exclusively
   (one full backup at a time);
3. the repository is claimed for, or checked against, the cluster's system identifier;
4. files are produced under ``$CHAIRSIDE_HOME/staging/<id>``, uploaded (encrypted when a
   key is set), then the manifest, then the ``COMPLETE`` marker: a backup killed at any
   earlier point has no marker and never counts;
5. the outcome, success or failure, is recorded as an ops event.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from chairside.config import Settings
from chairside.errors import ChairsideError, OperationFailedError
from chairside.ops.backup import access, codec
from chairside.ops.backup.catalog import BACKUPS_PREFIX, BackupCatalog, remove_staging
from chairside.ops.backup.locks import backup_type_lock, repository_lock
from chairside.ops.backup.manifest import BackupType, Encryption, Manifest, new_backup_id
from chairside.ops.backup.source import (
    BackupOrigin,
    ServerFacts,
    SourceCluster,
    replica_source,
    source_cluster,
)
from chairside.ops.timeline.store import OpsStore, open_ops_store


class BackupProgress(Protocol):
    """Where long work reports how far it got (a progress bar, or nothing)."""

    def phase(self, label: str, total: int | None) -> None:
        """A new step begins; ``total`` is its size in bytes when known."""

    def advance(self, amount: int) -> None:
        """``amount`` more bytes of the current step are done."""

    def update(self, completed: int) -> None:
        """The current step has done ``completed`` bytes in all."""


class SilentProgress:
    """Progress that goes nowhere (``--json``, tests, the scheduler)."""

    def phase(self, label: str, total: int | None) -> None:
        pass

    def advance(self, amount: int) -> None:
        pass

    def update(self, completed: int) -> None:
        pass


@dataclass
class Produced:
    """What a producer made: files in the staging directory, and manifest fields."""

    files: list[Path]
    timeline: int | None = None
    start_lsn: str | None = None
    stop_lsn: str | None = None
    start_wal: str | None = None
    stop_wal: str | None = None
    database: str | None = None
    compression: str | None = "zstd"
    extra: dict[str, Any] = field(default_factory=dict)
    checksums: dict[str, tuple[int, str]] = field(default_factory=dict)
    """Size and SHA-256 by file name, for files the producer checksummed as they were
    written (the upload then need not read them again)."""


Producer = Callable[[Path, SourceCluster, ServerFacts, BackupProgress], Produced]
"""Writes a backup's files into the given staging directory."""


@dataclass(frozen=True)
class BackupResult:
    """A finished backup and how long it took."""

    manifest: Manifest
    seconds: float
    repository: str

    def to_dict(self) -> dict[str, Any]:
        m = self.manifest
        return {
            "id": m.id,
            "type": m.type,
            "repository": self.repository,
            "seconds": round(self.seconds, 3),
            "size": m.total_size,
            "stored_size": m.stored_size,
            "files": [f.name for f in m.files],
            "timeline": m.timeline,
            "start_lsn": m.start_lsn,
            "stop_lsn": m.stop_lsn,
            "start_wal": m.start_wal,
            "stop_wal": m.stop_wal,
            "database": m.database,
            "encrypted": m.encryption is not None,
            "source": m.extra.get("source"),
            "source_node": m.extra.get("source_node"),
        }


def run_backup(
    settings: Settings,
    backup_type: BackupType,
    producer: Producer,
    *,
    dbname: str | None = None,
    progress: BackupProgress | None = None,
    store: OpsStore | None = None,
    origin: BackupOrigin = "primary",
) -> BackupResult:
    """Take one backup of ``backup_type`` with ``producer``; recorded as an ops event.

    ``origin`` "replica": the files come from a streaming replica (:func:`replica_source`);
    the manifest records which one (``extra.source``, ``extra.source_node``).
    """
    progress = progress or SilentProgress()
    store = store or open_ops_store(settings)
    started = time.monotonic()
    try:
        key = access.backup_key(settings)
        catalog = BackupCatalog(access.repository(settings), key=key)
        recorded: dict[str, Any] = {"source": origin}
        if origin == "replica":
            replica = replica_source(settings, dbname=dbname)
            source = replica.cluster
            recorded["source_node"] = replica.node
        else:
            source = source_cluster(settings, dbname=dbname)
        facts = source.facts()
        if origin == "replica" and not facts.in_recovery:
            raise OperationFailedError(
                f"{recorded['source_node']} ({source.host}:{source.port}) is no longer a "
                "replica (promoted by a failover?); run the backup again"
            )
        url = catalog.repository.url
        with (
            repository_lock(settings.home, url, mode="shared", purpose=f"backup {backup_type}"),
            backup_type_lock(settings.home, backup_type),
        ):
            catalog.ensure_identity(
                system_identifier=facts.system_identifier, pg_version=facts.version_num
            )
            manifest = _take(
                settings, catalog, backup_type, producer, source, facts, progress, recorded
            )
    except ChairsideError as exc:
        store.record(
            f"backup.{backup_type}",
            f"{backup_type} backup failed: {exc.message}",
            status="failed",
            details={"error": type(exc).__name__, "repository": settings.backup_repository_url},
        )
        raise
    result = BackupResult(manifest, time.monotonic() - started, url)
    store.record(
        f"backup.{backup_type}",
        f"{backup_type} backup {manifest.id} completed ({manifest.stored_size} bytes stored)",
        details=result.to_dict(),
    )
    return result


def _take(
    settings: Settings,
    catalog: BackupCatalog,
    backup_type: BackupType,
    producer: Producer,
    source: SourceCluster,
    facts: ServerFacts,
    progress: BackupProgress,
    recorded: dict[str, Any],
) -> Manifest:
    backup_id, start_time = _fresh_id(catalog, backup_type)
    # We hold this type's lock, so any staging directory of the type is a killed run's.
    for leftover in (settings.home / "staging").glob(f"*-{backup_type}"):
        remove_staging(leftover)
    staging = settings.home / "staging" / backup_id
    staging.mkdir(parents=True, exist_ok=True)
    try:
        produced = producer(staging, source, facts, progress)
        stop_time = datetime.now(UTC)
        total = sum(p.stat().st_size for p in produced.files)
        progress.phase(f"uploading to {catalog.repository.url}", total)
        entries = tuple(
            catalog.store_file(
                backup_id,
                path,
                progress=progress.advance,
                consume=True,
                checksum=produced.checksums.get(path.name),
            )
            for path in produced.files
        )
        manifest = Manifest(
            id=backup_id,
            type=backup_type,
            pg_version=facts.version_num,
            system_identifier=facts.system_identifier,
            start_time=start_time,
            stop_time=stop_time,
            files=entries,
            timeline=produced.timeline,
            start_lsn=produced.start_lsn,
            stop_lsn=produced.stop_lsn,
            start_wal=produced.start_wal,
            stop_wal=produced.stop_wal,
            wal_segment_size=facts.wal_segment_size,
            database=produced.database,
            compression=produced.compression,
            encryption=(Encryption(codec.ALGORITHM, catalog.key.key_id) if catalog.key else None),
            extra={**produced.extra, **recorded},
        )
        catalog.publish(manifest)
        return manifest
    finally:
        remove_staging(staging)


def _fresh_id(catalog: BackupCatalog, backup_type: BackupType) -> tuple[str, datetime]:
    """A new id; ids have one-second resolution, so wait out a clash instead of mixing."""
    while True:
        now = datetime.now(UTC)
        backup_id = new_backup_id(backup_type, now)
        taken = any(True for _ in catalog.repository.list(f"{BACKUPS_PREFIX}{backup_id}/"))
        if not taken:
            return backup_id, now
        time.sleep(1.05 - (datetime.now(UTC).microsecond / 1e6))
