"""Incremental backups are the archived WAL: this makes "everything up to now" durable.

``backup incremental`` closes the current WAL segment (``pg_switch_wal``), waits until
that segment is in the repository (pushed by ``archive_command`` or by ``wal stream``),
and reports the RPO: how much time of commits was only on the server before it ran.
After it returns, every transaction committed before the switch can be recovered from
the repository alone.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from chairside.config import Settings
from chairside.errors import ChairsideError, ConfigError, OperationFailedError
from chairside.ops.backup import access
from chairside.ops.backup.catalog import BackupCatalog, check_same_cluster
from chairside.ops.backup.locks import repository_lock
from chairside.ops.backup.source import source_cluster
from chairside.ops.backup.streaming import APPLICATION_NAME
from chairside.ops.timeline.store import OpsStore, open_ops_store


@dataclass(frozen=True)
class IncrementalResult:
    """The segment that was closed and confirmed, and the exposure it removed."""

    segment: str
    switch_lsn: str
    waited_seconds: float
    rpo_before_seconds: float | None
    previous_newest: str | None
    repository: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "segment": self.segment,
            "switch_lsn": self.switch_lsn,
            "waited_seconds": round(self.waited_seconds, 3),
            "rpo_before_seconds": (
                None if self.rpo_before_seconds is None else round(self.rpo_before_seconds, 1)
            ),
            "rpo_seconds": 0.0,
            "previous_newest_wal": self.previous_newest,
            "repository": self.repository,
        }


def take_incremental_backup(
    settings: Settings,
    *,
    timeout: float | None = None,
    store: OpsStore | None = None,
) -> IncrementalResult:
    """Switch WAL and confirm the closed segment reached the repository."""
    store = store or open_ops_store(settings)
    try:
        result = _take(settings, timeout or settings.wal_confirm_timeout_seconds)
    except ChairsideError as exc:
        store.record(
            "backup.incremental", f"incremental backup failed: {exc.message}", status="failed"
        )
        raise
    store.record(
        "backup.incremental",
        f"WAL up to {result.segment} confirmed in the repository",
        details=result.to_dict(),
    )
    return result


def _take(settings: Settings, timeout: float) -> IncrementalResult:
    archive = access.wal_archive(settings)
    url = archive.repository.url
    source = source_cluster(settings)
    with repository_lock(settings.home, url, mode="shared", purpose="backup incremental"):
        facts = source.facts()
        identity = BackupCatalog(archive.repository).identity()
        if identity is not None:
            check_same_cluster(identity, facts.system_identifier, where=url)
        if facts.in_recovery:
            raise ConfigError(
                "this server is a standby (in recovery) and cannot switch WAL; run "
                "`backup incremental` against the primary"
            )
        with source.connect() as conn:
            streaming = conn.execute(
                "SELECT count(*) FROM pg_stat_replication WHERE application_name = %s",
                (APPLICATION_NAME,),
            ).fetchone()
        if facts.archive_mode == "off" and not (streaming and int(str(streaming[0]))):
            raise ConfigError(
                "WAL is neither archived (archive_mode=off) nor streamed (no `chairside wal "
                "stream` connected), so nothing would reach the repository; run `chairside "
                "up` for the embedded cluster, or set archive_command as `chairside wal "
                "archive-command` prints"
            )
        segments = archive.segments_by_timeline()
        newest = max((s[-1] for s in segments.values() if s), key=lambda e: e.name, default=None)
        now = datetime.now(UTC)
        rpo_before = (now - newest.modified).total_seconds() if newest and newest.modified else None
        with source.connect() as conn:
            row = conn.execute(
                "SELECT pg_walfile_name(lsn), lsn::text FROM pg_switch_wal() AS lsn"
            ).fetchone()
        assert row is not None
        segment, lsn = str(row[0]), str(row[1])
        started = time.monotonic()
        deadline = started + timeout
        while not archive.find(segment):
            if time.monotonic() >= deadline:
                raise OperationFailedError(
                    f"WAL segment {segment} did not reach {url} within {timeout:.0f}s"
                    + _archiver_problem(source, segment)
                )
            time.sleep(0.1)
        return IncrementalResult(
            segment=segment,
            switch_lsn=lsn,
            waited_seconds=time.monotonic() - started,
            rpo_before_seconds=rpo_before,
            previous_newest=newest.name if newest else None,
            repository=url,
        )


def _archiver_problem(source: Any, segment: str) -> str:
    """Why archiving is stuck, from pg_stat_archiver, as a sentence (or nothing)."""
    try:
        with source.connect() as conn:
            row = conn.execute(
                "SELECT last_failed_wal, last_failed_time, failed_count, last_archived_wal "
                "FROM pg_stat_archiver"
            ).fetchone()
    except ChairsideError:
        return ""
    if row is None or not row[0]:
        return "; the archiver reports no failure yet (is it far behind?)"
    return (
        f"; archive_command has failed {row[2]} times, last on {row[0]} at {row[1]} "
        f"(last success: {row[3]}); see the PostgreSQL log for its message"
    )
