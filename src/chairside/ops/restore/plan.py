"""The plan of one restore: which timeline, which backup, which WAL, which end.

A restore follows one timeline (:mod:`.timelines`). Each complete full backup reaches,
on that timeline, from its own end (``stop_time``/``stop_lsn``, where the copy first
becomes consistent) to the end of the unbroken run of archived WAL along the timeline's
history (:mod:`.reach`). The recoverable window is the union of those ranges; a missing
segment splits it. The newest backup that reaches the target is chosen; a target outside
every range is refused with an error naming the window, never quietly turned into
"latest". Transaction ids and restore point names are first found in the archived WAL
(:mod:`.wal_records`) and placed by their record's LSN.

Times at the window's end are when the newest segment was archived. Where the finished
segment after the newest one is missing but a receiver pushed it as ``NAME.partial``
(``wal stream``), the chain ends with that partial segment (only at the open end of the
chosen timeline, :mod:`.reach`), as Barman's ``get-wal --partial`` does: the plan says so
(``end_from_partial``), and the window's end is when that partial was pushed. A time
after the last archived *commit* would never be met by PostgreSQL (it stops a time target
at a later commit); such a target recovers to the end of the chain, which is the state at
that time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

from chairside.errors import InputError, NotFoundError
from chairside.ops.backup.catalog import BackupCatalog, check_same_cluster
from chairside.ops.backup.manifest import Manifest
from chairside.ops.backup.walarchive import ArchivedWal, WalArchive, WalConflictError
from chairside.ops.restore.reach import (
    DEFAULT_SEGMENT_SIZE,
    ArchiveView,
    BackupRange,
    backup_reach,
    parse_lsn_of_segment,
    ranges_on,
    read_archive,
    view_for,
)
from chairside.ops.restore.targets import LATEST, RecoveryTarget, TargetKind, format_lsn
from chairside.ops.restore.timelines import (
    ChosenTimeline,
    LiveTimeline,
    TimelineChoice,
    choose_timeline,
)
from chairside.ops.restore.wal_chain import WalChain, segment_of
from chairside.ops.restore.wal_records import WalRecord, find_target_record, last_commit
from chairside.runtime.binaries import find_pg_bin_dir

backup_range = backup_reach  # the name validation's continuity check knows


class TargetOutsideWindowError(InputError):
    """The recovery target lies outside what the backups and the archive can reach."""


@dataclass(frozen=True)
class RecoverableWindow:
    """Every range the repository can restore to, oldest backup first."""

    ranges: tuple[BackupRange, ...]

    def describe(self) -> str:
        """The window as an operator reads it, e.g. ``[04:42:09 .. 05:10:00] (timeline 1)``."""
        if not self.ranges:
            return "no complete full backup, so nothing is recoverable"
        spans: list[tuple[datetime, datetime, int]] = []
        for item in sorted(self.ranges, key=lambda r: r.begin_time):
            tli = item.chain.target_timeline
            if spans and item.begin_time <= spans[-1][1] and spans[-1][2] == tli:
                begin, end, _ = spans[-1]
                spans[-1] = (begin, max(end, item.end_time), tli)
            else:
                spans.append((item.begin_time, item.end_time, tli))
        return "; ".join(
            f"[{b.isoformat(timespec='seconds')} .. {e.isoformat(timespec='seconds')}] "
            f"(timeline {t})"
            for b, e, t in spans
        )

    def to_dict(self) -> dict[str, object]:
        return {"description": self.describe(), "ranges": [r.to_dict() for r in self.ranges]}


@dataclass(frozen=True)
class RestorePlan:
    """Everything a restore will do, decided before anything is touched."""

    backup: Manifest
    target: RecoveryTarget
    chain: WalChain
    window: RecoverableWindow
    history_files: tuple[str, ...] = field(default=())
    # The archived objects of chain.to_fetch, as listed when planning (empty: look up).
    archived: dict[str, ArchivedWal] = field(default_factory=dict)
    timeline_reason: str = ""
    # What PostgreSQL is told: a time after the last archived commit becomes the chain's end.
    recovery_target: RecoveryTarget | None = None
    target_record: WalRecord | None = None

    @property
    def effective_target(self) -> RecoveryTarget:
        return self.recovery_target or self.target

    @property
    def timeline(self) -> int:
        return self.chain.target_timeline

    def to_dict(self) -> dict[str, object]:
        return {
            "backup_id": self.backup.id,
            "backup_stop_time": self.backup.stop_time.isoformat(),
            "target": self.target.to_dict(),
            "target_description": self.target.describe(),
            "timeline": self.timeline,
            "timeline_reason": self.timeline_reason,
            "target_record": self.target_record.to_dict() if self.target_record else None,
            "wal_segments": len(self.chain.segments),
            "first_wal": self.chain.segments[0] if self.chain.segments else None,
            "last_wal": self.chain.newest_segment,
            "backup_size": self.backup.total_size,
            "end_from_partial": self.chain.partial,
            "window": self.window.to_dict(),
        }


def recoverable_window(
    catalog: BackupCatalog, archive: WalArchive, *, timeline: int | None = None
) -> RecoverableWindow:
    """The window of every complete full backup (on ``timeline``, or each one's newest)."""
    manifests = [
        e.manifest for e in catalog.list_backups() if e.manifest and e.manifest.type == "full"
    ]
    view = view_for(archive, manifests)
    if timeline is None:
        return RecoverableWindow(tuple(r for m in manifests if (r := backup_reach(m, view))))
    return RecoverableWindow(tuple(reversed(ranges_on(manifests, view, timeline=timeline))))


def timeline_window(
    catalog: BackupCatalog,
    archive: WalArchive,
    *,
    timeline: TimelineChoice = None,
    live: LiveTimeline | None = None,
) -> tuple[ChosenTimeline, RecoverableWindow]:
    """The window of the timeline a restore would follow (``restore window``)."""
    identity = catalog.require_identity()
    manifests = [
        e.manifest for e in catalog.list_backups() if e.manifest and e.manifest.type == "full"
    ]
    view = view_for(archive, manifests)
    chosen = choose_timeline(
        timeline, view=view, known=view.timelines(m.timeline or 1 for m in manifests),
        live=live, system_identifier=identity.system_identifier,
    )  # fmt: skip
    ranges = ranges_on(manifests, view, timeline=chosen.timeline)
    return chosen, RecoverableWindow(tuple(reversed(ranges)))


def plan_restore(
    catalog: BackupCatalog,
    archive: WalArchive,
    *,
    target: RecoveryTarget,
    backup_id: str | None = None,
    system_identifier: str | None = None,
    timeline: TimelineChoice = None,
    live: LiveTimeline | None = None,
    pg_bin_dir: Path | None = None,
) -> RestorePlan:
    """Choose the timeline, the backup and the WAL for ``target``; refuse what cannot be."""
    identity = catalog.require_identity()
    if system_identifier is not None:
        check_same_cluster(identity, system_identifier, where=catalog.repository.url)
    entries = [e for e in catalog.list_backups() if e.manifest and e.manifest.type == "full"]
    manifests = [e.manifest for e in entries if e.manifest is not None]
    candidates = manifests
    if backup_id is not None:
        chosen = catalog.read_manifest(backup_id)  # names an unknown or incomplete backup
        if chosen.type != "full":
            raise InputError(
                f"backup {backup_id} is a {chosen.type} backup (pg_dump); restore and PITR "
                "need a full backup (see `chairside backup list`)",
                field="backup_id",
            )
        candidates = [chosen]
    for manifest in candidates:
        check_same_cluster(identity, manifest.system_identifier, where=catalog.repository.url)
    if not manifests:
        raise NotFoundError(
            f"repository {catalog.repository.url} has no complete full backup to restore "
            "from; take one with `chairside backup full`",
            field="backup_id",
        )
    view = view_for(archive, manifests)
    known = view.timelines(m.timeline or 1 for m in manifests)
    chosen_tli = choose_timeline(
        timeline, view=view, known=known, live=live, system_identifier=identity.system_identifier
    )
    tli = chosen_tli.timeline
    window = RecoverableWindow(tuple(reversed(ranges_on(manifests, view, timeline=tli))))
    ranges = ranges_on(candidates, view, timeline=tli)
    if not ranges:
        raise TargetOutsideWindowError(
            _unreachable(tli, backup_id, candidates, manifests, view), field="target_timeline"
        )
    record: WalRecord | None = None
    if target.kind in {TargetKind.XID, TargetKind.NAME}:
        record = find_target_record(
            archive, view, target=target, timeline=tli, pg_bin_dir=find_pg_bin_dir(pg_bin_dir)
        )
    chosen_range = _choose(ranges, window, target, record)
    chain = _trim(chosen_range, target, record)
    twice = sorted(view.duplicates & set(chain.to_fetch))
    if twice:
        raise WalConflictError(
            f"WAL {twice[0]} is archived more than once with different content; recovery "
            "cannot tell which one is real (resolve it before restoring)"
        )
    size = chosen_range.manifest.wal_segment_size or DEFAULT_SEGMENT_SIZE
    return RestorePlan(
        backup=chosen_range.manifest,
        target=target,
        chain=chain,
        window=window,
        history_files=view.history_files,
        archived={name: view.entry(name, size) for name in chain.to_fetch},
        timeline_reason=chosen_tli.reason,
        recovery_target=_effective(archive, view, chosen_range, target, pg_bin_dir),
        target_record=record,
    )


def reached_timelines(manifest: Manifest, view: ArchiveView) -> list[int]:
    """Every timeline ``manifest`` can reach (its own and those branching after it)."""
    known = view.timelines([manifest.timeline or 1])
    return [t for t in known if backup_reach(manifest, view, timeline=t) is not None]


def newest_reached_timeline(manifest: Manifest, archive: WalArchive) -> int | None:
    """The newest timeline a backup reaches (a validation test-restores along it)."""
    reached = reached_timelines(manifest, view_for(archive, [manifest]))
    return max(reached) if reached else None


def _unreachable(
    timeline: int,
    backup_id: str | None,
    candidates: Sequence[Manifest],
    manifests: Sequence[Manifest],
    view: ArchiveView,
) -> str:
    reaching = [r.backup_id for r in ranges_on(manifests, view, timeline=timeline)]
    others = ", ".join(reaching) or "none"
    if backup_id is not None:
        own = candidates[0].timeline or 1
        return (
            f"backup {backup_id} (taken on timeline {own}) cannot reach timeline {timeline}: "
            "that timeline did not branch off its history after the backup, or the WAL "
            f"between is not archived; backups that reach timeline {timeline}: {others}"
        )
    served = {
        t: [r.backup_id for r in ranges_on(manifests, view, timeline=t)]
        for t in view.timelines(m.timeline or 1 for m in manifests)
    }
    listing = "; ".join(f"timeline {t}: {', '.join(ids)}" for t, ids in served.items() if ids)
    return (
        f"no complete full backup reaches timeline {timeline} (backups per timeline: "
        f"{listing or 'none'}); take a full backup, or pass --target-timeline"
    )


def _choose(
    ranges: Sequence[BackupRange],
    window: RecoverableWindow,
    target: RecoveryTarget,
    record: WalRecord | None,
) -> BackupRange:
    # ``ranges`` is newest backup first: the newest that reaches the target replays least.
    record_lsn = record.lsn if record is not None else None
    for item in ranges:
        if item.reaches(target, record_lsn=record_lsn):
            return item
    if target.kind is TargetKind.LATEST:
        ranges[0].chain.require_complete()
    field_name = {TargetKind.TIME: "target_time", TargetKind.LSN: "target_lsn"}.get(
        target.kind, "target"
    )
    raise TargetOutsideWindowError(_outside(target, window, ranges, record), field=field_name)


def _trim(item: BackupRange, target: RecoveryTarget, record: WalRecord | None) -> WalChain:
    """The chain up to the target's segment (and one more, for a record crossing into it)."""
    stop_lsn = target.lsn if target.kind is TargetKind.LSN else None
    if record is not None:
        stop_lsn = record.lsn
    chain = item.chain
    if stop_lsn is None:
        return chain
    size = chain.segment_size
    last = segment_of(stop_lsn, size) + 1
    keep = tuple(n for n in chain.segments if parse_lsn_of_segment(n, size) <= last)
    staged = None if chain.staged is None else tuple(n for n in chain.staged if n in set(keep))
    partial = chain.partial if chain.partial in keep else None
    return replace(chain, segments=keep, staged=staged, missing=None, partial=partial)


def _effective(
    archive: WalArchive,
    view: ArchiveView,
    item: BackupRange,
    target: RecoveryTarget,
    pg_bin_dir: Path | None,
) -> RecoveryTarget | None:
    # PostgreSQL stops a time target only at a commit *after* it; a time after the last
    # archived commit would never be met ("recovery ended before the target"). The state
    # at such a time is everything archived: recover to the end of the chain.
    if target.kind is not TargetKind.TIME or target.time is None or not item.chain.to_fetch:
        return None
    names = item.chain.to_fetch
    before_last = view.entry(names[-2]) if len(names) > 1 else None
    if before_last is not None and before_last.modified and target.time < before_last.modified:
        return None  # a later commit exists for sure: the newest segment was archived after
    commit = last_commit(archive, view, names, pg_bin_dir=find_pg_bin_dir(pg_bin_dir))
    if commit is None or commit.at is None or target.time < commit.at:
        return None
    return LATEST


def _outside(
    target: RecoveryTarget,
    window: RecoverableWindow,
    ranges: Sequence[BackupRange],
    record: WalRecord | None,
) -> str:
    gap = next((r.chain.missing for r in ranges if r.chain.missing), None)
    where = ""
    if record is not None:
        where = f" (its record is at LSN {format_lsn(record.lsn)} on timeline {record.timeline})"
    message = (
        f"recovery target {target.describe()}{where} is outside the recoverable window "
        f"{window.describe()} of timeline {ranges[0].timeline}"
    )
    if gap:
        message += f"; WAL segment {gap} is missing from the archive, which cuts the window"
    latest = max((r.end_time for r in ranges), default=None)
    if target.time is not None and latest is not None and target.time > latest:
        message += (
            "; WAL written after the window's end is not archived yet (`chairside backup "
            "incremental` archives it now)"
        )
    return message + ". Pick a target inside it (see `chairside restore window`)."


__all__ = [
    "DEFAULT_SEGMENT_SIZE",
    "ArchiveView",
    "BackupRange",
    "RecoverableWindow",
    "RestorePlan",
    "TargetOutsideWindowError",
    "backup_range",
    "newest_reached_timeline",
    "read_archive",
    "reached_timelines",
    "plan_restore",
    "recoverable_window",
    "segment_of",
]
