"""``backup sync`` as an operation: settings in, a planned and recorded sync out.

The edges (the CLI, the scheduler) call :func:`prepare_sync`, show or confirm the plan,
then :func:`execute_sync`, holding :func:`sync_lock` around both: two syncs never
interleave their writes on one host, and ``backup prune`` (which takes the repository
locks exclusively) never deletes what a sync is reading or writing. Every executed sync,
done or failed, is recorded in the ops store (kind ``backup.sync``) with its target, so
``backup status`` knows which DR repositories exist even when they are not configured.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from chairside.config import Settings
from chairside.ops.backup import access
from chairside.ops.backup.locks import repository_lock
from chairside.ops.backup.repository import open_repository
from chairside.ops.backup.sync.retention import DrRetentionPolicy
from chairside.ops.backup.sync.service import (
    Progress,
    SyncInterruptedError,
    SyncMode,
    SyncPlan,
    SyncReport,
    plan_sync,
    run_sync,
)
from chairside.ops.locks import named_lock
from chairside.ops.restore.timelines import live_timeline
from chairside.ops.timeline.store import open_ops_store

SYNC_LOCK = "backup-sync"
EVENT_KIND = "backup.sync"


@dataclass
class PreparedSync:
    """A plan plus the scratch directory its run will use (removed by execute/discard)."""

    plan: SyncPlan
    scratch: Path

    def discard(self) -> None:
        shutil.rmtree(self.scratch, ignore_errors=True)


def retention_policy(
    settings: Settings, *, keep: int | None = None, keep_days: float | None = None
) -> DrRetentionPolicy:
    """The DR retention in force: command options first, then ``CHAIRSIDE_DR_RETENTION_*``."""
    return DrRetentionPolicy(
        count=keep if keep is not None else settings.dr_retention_count,
        days=keep_days if keep_days is not None else settings.dr_retention_days,
        minimum=settings.dr_retention_minimum,
    )


def prepare_sync(
    settings: Settings,
    *,
    target_url: str,
    mode: SyncMode = "incremental",
    source_url: str | None = None,
    keep: int | None = None,
    keep_days: float | None = None,
) -> PreparedSync:
    """Open both repositories and plan the sync (nothing is written)."""
    scratch = _scratch(settings)
    try:
        plan = plan_sync(
            source=access.catalog(settings, source_url),
            target=open_repository(target_url, settings),
            mode=mode,
            policy=retention_policy(settings, keep=keep, keep_days=keep_days),
            scratch=scratch,
            live=live_timeline(settings),
        )
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    return PreparedSync(plan, scratch)


def execute_sync(
    settings: Settings, prepared: PreparedSync, *, progress: Progress | None = None
) -> SyncReport:
    """Run a prepared sync and record it in the ops store, done or failed."""
    plan = prepared.plan
    store = open_ops_store(settings)
    try:
        report = run_sync(
            plan,
            scratch=prepared.scratch,
            wal_key=access.backup_key(settings),
            workers=settings.sync_workers,
            progress=progress,
        )
    except SyncInterruptedError as exc:
        store.record(
            EVENT_KIND,
            f"{plan.mode} sync to {plan.target.url} stopped: {exc.message}",
            status="failed",
            details={"target": plan.target.url, "source": plan.source.url, **exc.details},
        )
        raise
    finally:
        prepared.discard()
    summary = (
        f"{plan.mode} sync to {plan.target.url}: {len(report.backups_sent)} backups, "
        f"{report.wal_sent} WAL, {report.bytes_sent} bytes sent"
        + (f"; {len(report.failed)} failed" if report.failed else "")
    )
    store.record(
        EVENT_KIND,
        summary,
        status="ok" if report.ok else "failed",
        details={"target": plan.target.url, **report.to_dict()},
    )
    return report


@contextmanager
def sync_lock(
    settings: Settings, *, target_url: str, source_url: str | None = None
) -> Iterator[None]:
    """One sync at a time per host, and both repositories held shared (prune waits)."""
    source = source_url or settings.backup_repository_url
    purpose = f"backup sync to {target_url}"
    with (
        named_lock(settings.home, SYNC_LOCK, purpose=purpose),
        repository_lock(settings.home, source, mode="shared", purpose=purpose),
        repository_lock(settings.home, target_url, mode="shared", purpose=purpose),
    ):
        yield


def _scratch(settings: Settings) -> Path:
    base = settings.home / "tmp"
    base.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix="sync-", dir=base))
