"""Plan and run one sync from a source repository to a target (DR) repository.

:func:`plan_sync` reads both repositories and decides, without writing anything, what
the target lacks: ``incremental`` trusts backups already complete on the target and
compares sizes (and checksums of half-copied backups); ``full`` also re-checks every
object already there by size and SHA-256 and repairs what differs. :func:`run_sync`
carries the plan out in an order that keeps the target truthful at every instant:

1. ``repository.json`` (the target then belongs to the source's cluster),
2. the WAL the kept backups need, oldest first,
3. each backup's payload files, then its manifest, then its ``COMPLETE`` marker (copied
   byte for byte, so it vouches for the same manifest), and only once the WAL range
   the backup needs to be consistent is on the target,
4. retention on the target (markers first, so nothing looks complete half-deleted).

A store that stops answering ends the run with :class:`SyncInterruptedError`, naming
what was already sent; the next run sends only what is still missing.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from chairside.errors import ChairsideError, GuardRefusedError, InputError, OperationFailedError
from chairside.ops.backup.catalog import (
    IDENTITY_KEY,
    MANIFEST,
    MARKER,
    BackupCatalog,
    backup_key,
)
from chairside.ops.backup.codec import BackupKey, IntegrityError
from chairside.ops.backup.manifest import Manifest
from chairside.ops.backup.repository import ObjectInfo, Repository, RepositoryError
from chairside.ops.backup.repository.local import LocalRepository
from chairside.ops.backup.sync.objects import (
    Expected,
    copy_file_object,
    copy_small_object,
    is_intact,
    object_checksum,
    same_small_object,
)
from chairside.ops.backup.sync.retention import DrRetentionPolicy, timeline_facts
from chairside.ops.backup.walarchive import (
    HISTORY_PREFIX,
    WAL_PREFIX,
    parse_wal_key,
    segment_name,
    segment_number,
)
from chairside.ops.restore.timelines import LiveTimeline

SyncMode = Literal["incremental", "full"]
SYNC_MODES: tuple[SyncMode, ...] = ("incremental", "full")
Progress = Callable[[int], None]
DEFAULT_SEGMENT_SIZE = 16 * 1024 * 1024


class SyncRefusedError(GuardRefusedError):
    """The target repository is not a copy of the source (another cluster, or itself)."""


class SyncInterruptedError(OperationFailedError):
    """A repository stopped answering mid-sync; what was sent stays, the rest is resumable."""


@dataclass
class BackupTransfer:
    """One backup the target lacks or holds damaged, and which of its files to send."""

    id: str
    action: Literal["copy", "resume", "repair"]
    manifest: Manifest
    files: list[str]
    bytes: int

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "action": self.action, "files": self.files, "bytes": self.bytes}


@dataclass
class SyncPlan:
    """What one sync will do; nothing has been written when it is made."""

    mode: SyncMode
    source: Repository
    target: Repository
    policy: DrRetentionPolicy
    system_identifier: str
    write_identity: bool
    wal: list[ObjectInfo]
    wal_in_sync: int
    backups: list[BackupTransfer]
    backups_in_sync: list[str]
    prune_backups: list[str]
    prune_wal: list[str]
    target_wal_names: set[str]
    problems: list[str] = field(default_factory=list)

    @property
    def bytes_to_send(self) -> int:
        return sum(info.size for info in self.wal) + sum(b.bytes for b in self.backups)

    @property
    def deletes(self) -> bool:
        return bool(self.prune_backups or self.prune_wal)

    def to_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "source": self.source.url,
            "target": self.target.url,
            "system_identifier": self.system_identifier,
            "retention": self.policy.describe(),
            "backups_to_send": [b.to_dict() for b in self.backups],
            "backups_in_sync": self.backups_in_sync,
            "wal_to_send": len(self.wal),
            "wal_in_sync": self.wal_in_sync,
            "bytes_to_send": self.bytes_to_send,
            "prune_backups": self.prune_backups,
            "prune_wal": len(self.prune_wal),
            "problems": self.problems,
        }


@dataclass
class SyncReport:
    """What one sync did."""

    plan: SyncPlan
    dry_run: bool
    backups_sent: list[str] = field(default_factory=list)
    wal_sent: int = 0
    objects_sent: int = 0
    bytes_sent: int = 0
    backups_pruned: list[str] = field(default_factory=list)
    wal_pruned: int = 0
    failed: list[dict[str, str]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failed

    @property
    def throughput_mb_s(self) -> float:
        return self.bytes_sent / 1e6 / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "dry_run": self.dry_run,
            "mode": self.plan.mode,
            "source": self.plan.source.url,
            "target": self.plan.target.url,
            "retention": self.plan.policy.describe(),
            "plan": self.plan.to_dict(),
            "backups_sent": self.backups_sent,
            "backups_in_sync": self.plan.backups_in_sync,
            "wal_sent": self.wal_sent,
            "objects_sent": self.objects_sent,
            "bytes_sent": self.bytes_sent,
            "backups_pruned": self.backups_pruned,
            "wal_pruned": self.wal_pruned,
            "failed": self.failed,
            "seconds": round(self.seconds, 3),
            "throughput_mb_s": round(self.throughput_mb_s, 2),
        }


# ---- planning -------------------------------------------------------------------------------


def plan_sync(
    *,
    source: BackupCatalog,
    target: Repository,
    mode: SyncMode,
    policy: DrRetentionPolicy,
    scratch: Path,
    now: datetime | None = None,
    live: LiveTimeline | None = None,
) -> SyncPlan:
    """Decide what the target lacks (read-only); refuse a target of another cluster.

    ``live``: the live cluster's timeline (DR retention keeps what reaches it).
    """
    if mode not in SYNC_MODES:
        raise InputError(f"sync mode {mode!r} is unknown; use incremental or full", field="mode")
    if source.repository.url == target.url:
        raise SyncRefusedError(f"cannot sync repository {target.url} into itself")
    now = now or datetime.now(UTC)
    identity = source.require_identity()
    target_catalog = BackupCatalog(target)
    target_identity = target_catalog.identity()
    if target_identity is not None and target_identity.system_identifier != (
        identity.system_identifier
    ):
        raise SyncRefusedError(
            f"refusing to sync into {target.url}: it belongs to the cluster with system "
            f"identifier {target_identity.system_identifier}, but {source.repository.url} "
            f"holds backups of {identity.system_identifier}; give each cluster its own DR "
            "repository"
        )

    source_entries = {e.id: e for e in source.list_backups()}
    target_entries = {e.id: e for e in target_catalog.list_backups(include_incomplete=True)}
    target_complete = {i for i, e in target_entries.items() if e.complete}
    candidates = [
        e.manifest
        for e in [*source_entries.values(), *(target_entries[i] for i in target_complete)]
        if e.manifest is not None
    ]
    view, on = (None, None)
    if not policy.keeps_everything:  # keep what reaches the live timeline, as prune does
        view, on = timeline_facts(source, [m for m in candidates if m.type == "full"], live)
    kept = policy.kept(candidates, now, view=view, live=on)

    plan = SyncPlan(
        mode=mode,
        source=source.repository,
        target=target,
        policy=policy,
        system_identifier=identity.system_identifier,
        write_identity=target_identity is None,
        wal=[],
        wal_in_sync=0,
        backups=[],
        backups_in_sync=[],
        prune_backups=[],
        prune_wal=[],
        target_wal_names=set(),
    )
    for backup_id in sorted(source_entries):
        manifest = source_entries[backup_id].manifest
        if backup_id not in kept or manifest is None:
            continue
        transfer = _plan_backup(
            manifest,
            target,
            on_target=target_entries.get(backup_id),
            mode=mode,
            scratch=scratch,
        )
        if transfer is None:
            plan.backups_in_sync.append(backup_id)
        else:
            plan.backups.append(transfer)

    oldest_full = _oldest_full(
        [source_entries[i].manifest for i in kept if i in source_entries]
        + [target_entries[i].manifest for i in kept if i in target_complete],
    )
    _plan_wal(plan, source.repository, target, oldest_full, mode=mode, scratch=scratch)
    if not policy.keeps_everything:
        plan.prune_backups = sorted(i for i in target_entries if i not in kept)
    return plan


def _plan_backup(
    manifest: Manifest,
    target: Repository,
    *,
    on_target: Any,
    mode: SyncMode,
    scratch: Path,
) -> BackupTransfer | None:
    if on_target is not None and on_target.complete:
        if mode == "incremental":
            return None
        damaged = [
            f.name
            for f in manifest.files
            if not is_intact(
                target,
                backup_key(manifest.id, f.name),
                Expected(f.stored_size, f.stored_sha256),
                scratch,
            )
        ]
        if not damaged and on_target.manifest == manifest:
            return None
        size = sum(f.stored_size for f in manifest.files if f.name in damaged)
        return BackupTransfer(manifest.id, "repair", manifest, damaged, size)
    if on_target is None:
        names = [f.name for f in manifest.files]
        return BackupTransfer(manifest.id, "copy", manifest, names, manifest.stored_size)
    # Half-copied by an earlier run: send only what is not there intact.
    missing = [
        f
        for f in manifest.files
        if not is_intact(
            target,
            backup_key(manifest.id, f.name),
            Expected(f.stored_size, f.stored_sha256),
            scratch,
        )
    ]
    return BackupTransfer(
        manifest.id,
        "resume",
        manifest,
        [f.name for f in missing],
        sum(f.stored_size for f in missing),
    )


def _oldest_full(manifests: list[Manifest | None]) -> Manifest | None:
    fulls = [m for m in manifests if m is not None and m.type == "full" and m.start_wal]
    return min(fulls, key=lambda m: m.id, default=None)


def _wal_needed(name: str, oldest_full: Manifest | None) -> bool:
    """WAL from the oldest kept full backup's first segment on, on its timeline or later."""
    if oldest_full is None or oldest_full.start_wal is None:
        return False
    if len(name) < 24 or not name[:24].isalnum():
        return True
    start = oldest_full.start_wal
    return int(name[:8], 16) >= int(start[:8], 16) and name[8:24] >= start[8:24]


def _plan_wal(
    plan: SyncPlan,
    source: Repository,
    target: Repository,
    oldest_full: Manifest | None,
    *,
    mode: SyncMode,
    scratch: Path,
) -> None:
    on_target = {info.key: info for info in target.list(WAL_PREFIX)}
    plan.target_wal_names = {p[0] for k in on_target if (p := parse_wal_key(k)) is not None}
    for info in source.list(WAL_PREFIX):
        parsed = parse_wal_key(info.key)
        if parsed is None:
            continue
        if not info.key.startswith(HISTORY_PREFIX) and not _wal_needed(parsed[0], oldest_full):
            continue
        there = on_target.get(info.key)
        intact = there is not None and there.size == info.size
        if intact and mode == "full":
            intact = object_checksum(target, info.key, scratch) == object_checksum(
                source, info.key, scratch
            )
        if intact:
            plan.wal_in_sync += 1
        else:
            plan.wal.append(info)
    if not plan.policy.keeps_everything and oldest_full is not None:
        plan.prune_wal = sorted(
            key
            for key in on_target
            if not key.startswith(HISTORY_PREFIX)
            and (parsed := parse_wal_key(key)) is not None
            and not _wal_needed(parsed[0], oldest_full)
        )


# ---- running --------------------------------------------------------------------------------


def keep_archive_time(target: Repository, info: ObjectInfo) -> None:
    """Give a copied WAL object its archive time, not the upload time (local copies).

    A repository's window ends at the archive time of its newest segment; a DR copy's
    upload time would stretch it past what was archived when the copy was taken. S3 sets
    its own LastModified, so an S3 copy gets the time as ``archived-at`` metadata at
    upload instead (:func:`copy_small_object`), which its ``stat`` reports.
    """
    if not isinstance(target, LocalRepository) or info.modified is None:
        return
    stamp = info.modified.timestamp()
    with contextlib.suppress(OSError):
        os.utime(target.root / info.key, (stamp, stamp))


def run_sync(
    plan: SyncPlan,
    *,
    scratch: Path,
    wal_key: BackupKey | None = None,
    workers: int = 4,
    progress: Progress | None = None,
) -> SyncReport:
    """Carry out ``plan`` (identity, WAL, backups marker last, retention)."""
    report = SyncReport(plan=plan, dry_run=False)
    started = time.monotonic()
    try:
        if plan.write_identity:
            _send(report, copy_small_object(plan.source, plan.target, IDENTITY_KEY))
        _send_wal(plan, report, wal_key=wal_key, workers=workers, progress=progress)
        for transfer in plan.backups:
            _send_backup(plan, transfer, report, scratch=scratch, progress=progress)
        _prune(plan, report)
    except RepositoryError as exc:
        report.seconds = time.monotonic() - started
        raise SyncInterruptedError(
            f"sync to {plan.target.url} stopped: {exc.message}. Sent {report.objects_sent} "
            f"objects ({report.bytes_sent} bytes) before that; run it again to send only "
            "what is still missing",
            details={"partial": report.to_dict()},
        ) from None
    report.seconds = time.monotonic() - started
    return report


def _send(report: SyncReport, size: int) -> None:
    report.objects_sent += 1
    report.bytes_sent += size


def _send_wal(
    plan: SyncPlan,
    report: SyncReport,
    *,
    wal_key: BackupKey | None,
    workers: int,
    progress: Progress | None,
) -> None:
    """Copy WAL objects in parallel (they are many and small), oldest first.

    A damaged source object is recorded and the others go on; a store that fails stops
    the sending (queued copies are cancelled) and the error ends the run.
    """

    def copy(info: ObjectInfo) -> tuple[ObjectInfo, int, IntegrityError | None]:
        try:
            size = copy_small_object(
                plan.source, plan.target, info.key, wal_key=wal_key, archived_at=info.modified
            )
        except IntegrityError as exc:
            return info, 0, exc
        keep_archive_time(plan.target, info)
        return info, size, None

    failure: BaseException | None = None
    ordered = sorted(plan.wal, key=lambda info: info.key)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sync-wal") as pool:
        futures = [pool.submit(copy, info) for info in ordered]
        for future in as_completed(futures):
            if future.cancelled():
                continue
            try:
                info, size, damaged = future.result()
            except Exception as exc:  # noqa: BLE001 - re-raised below, once the pool is quiet
                failure = failure or exc
                for other in futures:
                    other.cancel()
                continue
            if damaged is not None:
                report.failed.append({"object": info.key, "error": damaged.message})
                continue
            _send(report, size)
            report.wal_sent += 1
            if parsed := parse_wal_key(info.key):
                plan.target_wal_names.add(parsed[0])
            if progress:
                progress(size)
    if isinstance(failure, ChairsideError):
        raise failure
    if failure is not None:
        raise RepositoryError(f"repository {plan.target.url}: {failure}") from failure


def _send_backup(
    plan: SyncPlan,
    transfer: BackupTransfer,
    report: SyncReport,
    *,
    scratch: Path,
    progress: Progress | None,
) -> None:
    manifest = transfer.manifest
    source, target = plan.source, plan.target
    try:
        if transfer.action == "repair":
            # Unpublish first: a damaged backup must not look complete while it is mended.
            target.delete(backup_key(manifest.id, MARKER))
        for name in transfer.files:
            entry = manifest.file(name)
            size = copy_file_object(
                source,
                target,
                backup_key(manifest.id, name),
                expected=Expected(entry.stored_size, entry.stored_sha256),
                scratch=scratch,
            )
            _send(report, size)
            if progress:
                progress(size)
        missing = _missing_wal(manifest, plan.target_wal_names)
        if missing and not any(f.name.startswith("pg_wal") for f in manifest.files):
            raise IntegrityError(
                f"backup {manifest.id} needs WAL {', '.join(missing[:3])}"
                + ("…" if len(missing) > 3 else "")
                + " which is in neither repository; it was not marked complete on the target"
            )
        # Manifest, then marker, byte for byte: the marker vouches for this exact manifest.
        # A run killed between the two left the manifest there already; it is not resent.
        manifest_key = backup_key(manifest.id, MANIFEST)
        if not same_small_object(source, target, manifest_key):
            _send(report, copy_small_object(source, target, manifest_key))
        _send(report, copy_small_object(source, target, backup_key(manifest.id, MARKER)))
    except IntegrityError as exc:
        report.failed.append({"backup": manifest.id, "error": exc.message})
        return
    report.backups_sent.append(manifest.id)


def _missing_wal(manifest: Manifest, present: set[str]) -> list[str]:
    """The segments ``start_wal``..``stop_wal`` that are not on the target."""
    if manifest.type != "full" or not manifest.start_wal or not manifest.stop_wal:
        return []
    size = manifest.wal_segment_size or DEFAULT_SEGMENT_SIZE
    timeline = int(manifest.start_wal[:8], 16)
    first = segment_number(manifest.start_wal, size)
    last = segment_number(manifest.stop_wal, size)
    names = [segment_name(timeline, n, size) for n in range(first, last + 1)]
    return [name for name in names if name not in present]


def _prune(plan: SyncPlan, report: SyncReport) -> None:
    target_catalog = BackupCatalog(plan.target)
    for backup_id in plan.prune_backups:
        target_catalog.delete_backup(backup_id)
        report.backups_pruned.append(backup_id)
    for key in plan.prune_wal:
        plan.target.delete(key)
        report.wal_pruned += 1
