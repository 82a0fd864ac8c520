"""Retention: which backups and WAL ``backup prune`` keeps, and deleting the rest safely.

A :class:`RetentionPolicy` keeps, per backup type (for full backups: among those that
reach the live timeline, see :mod:`.timeline_retention`), the union of:

- the newest ``count`` backups (redundancy);
- every backup that ended inside the recovery window (``days``), plus the newest one
  that ended before it, so any moment inside the window can be recovered;
- the newest ``minimum`` backups, whatever the other rules say.

Only complete backups count (an incomplete one never protects anything and is removed).
WAL older than the oldest kept full backup's first segment goes too; history files stay.
Pruning holds the repository lock *exclusively*: while a restore, validation, sync or
backup holds it shared, prune is refused and deletes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from chairside.config import Settings
from chairside.errors import ChairsideError
from chairside.ops.backup import access
from chairside.ops.backup.catalog import BackupCatalog
from chairside.ops.backup.leftovers import Leftover, find_leftovers, remove_leftovers
from chairside.ops.backup.locks import repository_lock, repository_lock_name
from chairside.ops.backup.manifest import BACKUP_TYPES, Manifest
from chairside.ops.backup.timeline_retention import TimelineKeep, keep_fulls_by_timeline
from chairside.ops.backup.walarchive import ArchivedWal, WalArchive, segment_number
from chairside.ops.locks import is_locked
from chairside.ops.restore.reach import ArchiveView, view_for
from chairside.ops.restore.timelines import LiveTimeline, choose_timeline, live_timeline
from chairside.ops.timeline.store import OpsStore, open_ops_store


@dataclass(frozen=True)
class RetentionPolicy:
    """Keep by count and by recovery window, never fewer than ``minimum``."""

    count: int
    window: timedelta
    minimum: int

    @classmethod
    def from_settings(cls, settings: Settings) -> RetentionPolicy:
        return cls(
            count=settings.backup_retention_count,
            window=timedelta(days=settings.backup_retention_days),
            minimum=settings.backup_retention_minimum,
        )

    def reasons(self, backups: list[Manifest], now: datetime) -> dict[str, list[str]]:
        """For each backup (one type), why it is kept; an empty list means prune it."""
        newest_first = sorted(backups, key=lambda m: m.start_time, reverse=True)
        window_start = now - self.window
        reasons: dict[str, list[str]] = {m.id: [] for m in newest_first}
        anchored = False
        for index, manifest in enumerate(newest_first):
            why = reasons[manifest.id]
            if index < self.minimum:
                why.append(f"among the newest {self.minimum} (minimum)")
            if index < self.count:
                why.append(f"among the newest {self.count}")
            if self.window > timedelta(0):
                if manifest.stop_time >= window_start:
                    why.append("inside the recovery window")
                elif not anchored:
                    why.append("needed to recover to the start of the recovery window")
                    anchored = True
        return reasons

    def to_dict(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "window_days": self.window.total_seconds() / 86400,
            "minimum": self.minimum,
        }


@dataclass
class PrunePlan:
    """What prune keeps and deletes; computed the same way for --dry-run and for real."""

    policy: RetentionPolicy
    keep: dict[str, list[str]] = field(default_factory=dict)
    delete: list[Manifest] = field(default_factory=list)
    incomplete: list[str] = field(default_factory=list)
    wal: list[ArchivedWal] = field(default_factory=list)
    wal_before: str | None = None
    leftovers: list[Leftover] = field(default_factory=list)
    live_timeline: int | None = None
    timeline_reason: str = ""
    timelines: list[TimelineKeep] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.delete or self.incomplete or self.wal or self.leftovers)

    @property
    def bytes_freed(self) -> int:
        return (
            sum(m.stored_size for m in self.delete)
            + sum(w.stored_size for w in self.wal)
            + sum(p.size for p in self.leftovers)
        )

    def describe(self) -> str:
        return (
            f"delete {len(self.delete)} backup(s), {len(self.incomplete)} incomplete "
            f"backup(s), {len(self.wal)} WAL file(s) and {len(self.leftovers)} unfinished "
            f"upload(s) ({self.bytes_freed} bytes); "
            f"keep {len(self.keep)} backup(s)"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "policy": self.policy.to_dict(),
            "keep": [{"id": k, "reasons": v} for k, v in sorted(self.keep.items())],
            "delete": [m.id for m in self.delete],
            "delete_incomplete": self.incomplete,
            "delete_wal": len(self.wal),
            "delete_wal_first": self.wal[0].name if self.wal else None,
            "delete_wal_last": self.wal[-1].name if self.wal else None,
            "wal_kept_from": self.wal_before,
            "delete_partial": [p.to_dict() for p in self.leftovers],
            "live_timeline": self.live_timeline,
            "timeline_reason": self.timeline_reason,
            "timelines": [t.to_dict() for t in self.timelines],
            "bytes_freed": self.bytes_freed,
        }


@dataclass(frozen=True)
class PruneResult:
    """The plan and whether it was carried out."""

    plan: PrunePlan
    dry_run: bool
    lock_held: bool

    def to_dict(self) -> dict[str, Any]:
        return {"dry_run": self.dry_run, "lock_held": self.lock_held, **self.plan.to_dict()}


def plan_prune(
    catalog: BackupCatalog,
    archive: WalArchive,
    policy: RetentionPolicy,
    *,
    now: datetime | None = None,
    live: LiveTimeline | None = None,
    prune_abandoned: bool = False,
) -> PrunePlan:
    """Decide what to keep and what to delete (reads only)."""
    now = now or datetime.now(UTC)
    plan = PrunePlan(policy)
    entries = catalog.list_backups(include_incomplete=True)
    plan.incomplete = [e.id for e in entries if not e.complete]
    plan.leftovers = find_leftovers(catalog.repository)
    complete = [e.manifest for e in entries if e.complete and e.manifest is not None]
    fulls = [m for m in complete if m.type == "full"]
    view = view_for(archive, fulls)
    identity = catalog.require_identity()
    chosen = choose_timeline(
        "latest" if live is None or live.system_identifier != identity.system_identifier
        else None,
        view=view, known=view.timelines(m.timeline or 1 for m in fulls), live=live,
        system_identifier=identity.system_identifier,
    )  # fmt: skip
    plan.live_timeline, plan.timeline_reason = chosen.timeline, chosen.reason
    full_reasons, plan.timelines = keep_fulls_by_timeline(
        fulls, view, policy, live=chosen.timeline, now=now, prune_abandoned=prune_abandoned
    )
    kept_fulls: list[Manifest] = []
    for backup_type in BACKUP_TYPES:
        of_type = [m for m in complete if m.type == backup_type]
        by_type = full_reasons if backup_type == "full" else policy.reasons(of_type, now)
        for manifest_id, why in by_type.items():
            manifest = next(m for m in of_type if m.id == manifest_id)
            if why:
                plan.keep[manifest_id] = why
                if backup_type == "full":
                    kept_fulls.append(manifest)
            else:
                plan.delete.append(manifest)
    plan.delete.sort(key=lambda m: m.id)
    oldest = min(
        (m for m in kept_fulls if m.start_wal and m.wal_segment_size),
        key=lambda m: m.start_time,
        default=None,
    )
    if oldest is not None:
        assert oldest.start_wal is not None and oldest.wal_segment_size is not None
        size = oldest.wal_segment_size
        first_needed = segment_number(oldest.start_wal, size)
        plan.wal_before = oldest.start_wal
        needed = _needed_timelines(plan, view) if prune_abandoned else None
        plan.wal = [
            entry
            for entry in archive.entries(include_history=False)
            if segment_number(entry.name[:24], size) < first_needed
            or (needed is not None and entry.timeline not in needed)
        ]
    return plan


def _needed_timelines(plan: PrunePlan, view: ArchiveView) -> set[int]:
    """Timelines a kept backup reaches, and their ancestors (their WAL is on the path)."""
    needed = set()
    for entry in plan.timelines:
        if any(backup_id in plan.keep for backup_id in entry.reaching):
            needed.add(entry.timeline)
            needed.update(s.timeline for s in view.histories.get(entry.timeline, []))
    return needed


def prune_backups(
    settings: Settings,
    *,
    dry_run: bool,
    confirm: Callable[[PrunePlan], None] = lambda plan: None,
    now: datetime | None = None,
    store: OpsStore | None = None,
    prune_abandoned: bool = False,
) -> PruneResult:
    """Apply the retention policy; ``confirm`` may refuse (raise) after seeing the plan."""
    catalog = access.catalog(settings)
    archive = access.wal_archive(settings)
    catalog.require_identity()
    policy = RetentionPolicy.from_settings(settings)
    url = catalog.repository.url
    live = live_timeline(settings)
    if dry_run:
        plan = plan_prune(
            catalog, archive, policy, now=now, live=live, prune_abandoned=prune_abandoned
        )
        held = is_locked(settings.home, repository_lock_name(url))
        return PruneResult(plan, dry_run=True, lock_held=held)
    store = store or open_ops_store(settings)
    try:
        with repository_lock(settings.home, url, mode="exclusive", purpose="backup prune"):
            plan = plan_prune(
                catalog, archive, policy, now=now, live=live, prune_abandoned=prune_abandoned
            )
            if not plan.empty:
                confirm(plan)
            for manifest in plan.delete:
                catalog.delete_backup(manifest.id)
            for backup_id in plan.incomplete:
                catalog.delete_backup(backup_id)
            for entry in plan.wal:
                archive.delete(entry)
            remove_leftovers(plan.leftovers)
    except ChairsideError as exc:
        store.record("backup.prune", f"prune refused or failed: {exc.message}", status="failed")
        raise
    store.record("backup.prune", plan.describe(), details=plan.to_dict())
    return PruneResult(plan, dry_run=False, lock_held=False)
