"""The recoverable window, and the plan of one restore: which backup, which WAL, which end.

Each complete full backup can bring the database back to any point from its own end
(``stop_time``/``stop_lsn``, where the copy first becomes consistent) to the end of the
unbroken run of archived WAL that follows it. The recoverable window is the union of
those ranges; a missing segment splits it. A target outside every range is refused with
an error naming the window, never quietly turned into "latest". Targets PostgreSQL alone
can place (a transaction id, a restore point name) are checked by PostgreSQL during
recovery, which refuses to finish when it never meets them.

Times at the window's end are when the newest segment was archived: commits up to
then are in the archive. Where the finished segment after the newest one is missing but
a receiver pushed it as ``NAME.partial`` (``wal stream``), the chain ends with that
partial segment, as Barman's ``get-wal --partial`` does: the plan says so
(``end_from_partial``), and the window's end is when that partial was pushed. A target
after the last archived *commit* but before that moment passes this check and is then
refused by PostgreSQL itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from chairside.errors import ConflictError, InputError, NotFoundError
from chairside.ops.backup.catalog import BackupCatalog, check_same_cluster
from chairside.ops.backup.manifest import Manifest
from chairside.ops.backup.walarchive import ArchivedWal, WalArchive, WalConflictError, parse_lsn
from chairside.ops.restore.targets import RecoveryTarget, TargetKind, format_lsn
from chairside.ops.restore.wal_chain import (
    TimelineSwitch,
    WalChain,
    parse_history,
    plan_chain,
    segment_of,
)

DEFAULT_SEGMENT_SIZE = 16 * 1024 * 1024


class TargetOutsideWindowError(InputError):
    """The recovery target lies outside what the backups and the archive can reach."""


@dataclass(frozen=True)
class BackupRange:
    """What one backup can reach: from its consistent end to the end of its WAL run."""

    manifest: Manifest
    chain: WalChain
    begin_time: datetime
    begin_lsn: int
    end_time: datetime
    end_lsn: int

    @property
    def backup_id(self) -> str:
        return self.manifest.id

    def contains_time(self, moment: datetime) -> bool:
        return self.begin_time <= moment <= self.end_time

    def contains_lsn(self, lsn: int) -> bool:
        return self.begin_lsn <= lsn <= self.end_lsn

    def to_dict(self) -> dict[str, object]:
        return {
            "backup_id": self.backup_id,
            "timeline": self.chain.target_timeline,
            "earliest_time": self.begin_time.isoformat(),
            "latest_time": self.end_time.isoformat(),
            "earliest_lsn": format_lsn(self.begin_lsn),
            "latest_lsn": format_lsn(self.end_lsn),
            "wal_segments": len(self.chain.segments),
            "missing_segment": self.chain.missing,
        }


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
            "wal_segments": len(self.chain.segments),
            "first_wal": self.chain.segments[0] if self.chain.segments else None,
            "last_wal": self.chain.newest_segment,
            "backup_size": self.backup.total_size,
            "end_from_partial": self.chain.partial,
            "window": self.window.to_dict(),
        }


@dataclass(frozen=True)
class ArchiveView:
    """One listing of the WAL archive: segments per timeline, and the history files."""

    segments: dict[int, dict[int, ArchivedWal]]
    histories: dict[int, list[TimelineSwitch]]
    history_files: tuple[str, ...]
    duplicates: frozenset[str] = frozenset()  # names archived more than once
    # The newest pushed partial version per timeline and segment number (``wal stream``).
    partials: dict[int, dict[int, ArchivedWal]] = field(default_factory=dict)

    def entry(self, name: str, segment_size: int) -> ArchivedWal:
        """The archived object of segment ``name`` (listed, so fetching needs no lookup)."""
        timeline, segno = int(name[:8], 16), parse_lsn_of_segment(name, segment_size)
        found = self.segments.get(timeline, {}).get(segno)
        return found if found is not None else self.partials[timeline][segno]


def read_archive(archive: WalArchive, *, segment_size: int) -> ArchiveView:
    """List the archive once and parse its timeline history files."""
    segments: dict[int, dict[int, ArchivedWal]] = {}
    histories: dict[int, list[TimelineSwitch]] = {}
    history_files = []
    duplicates: set[str] = set()
    partials: dict[int, dict[int, ArchivedWal]] = {}
    for entry in archive.entries():
        if entry.kind == "partial":
            segno = parse_lsn_of_segment(entry.name, segment_size)
            known = partials.setdefault(entry.timeline, {}).get(segno)
            newest = archive.newest_partial([entry] if known is None else [known, entry])
            partials[entry.timeline][segno] = newest or entry
        elif entry.kind == "segment":
            segno = parse_lsn_of_segment(entry.name, segment_size)
            if segno in segments.get(entry.timeline, {}):
                duplicates.add(entry.name)
            segments.setdefault(entry.timeline, {})[segno] = entry
        elif entry.kind == "history":
            history_files.append(entry.name)
            content = archive.content(entry)
            histories[entry.timeline] = parse_history(content.decode(errors="replace"))
    return ArchiveView(segments, histories, tuple(history_files), frozenset(duplicates), partials)


def parse_lsn_of_segment(name: str, segment_size: int) -> int:
    per_log = 0x100000000 // segment_size
    return int(name[8:16], 16) * per_log + int(name[16:24], 16)


def backup_range(manifest: Manifest, view: ArchiveView) -> BackupRange | None:
    """What ``manifest`` can reach given the archive; None when it cannot even be consistent."""
    if manifest.type != "full" or manifest.start_lsn is None or manifest.stop_lsn is None:
        return None
    size = manifest.wal_segment_size or DEFAULT_SEGMENT_SIZE
    timeline = manifest.timeline or 1
    start_lsn, stop_lsn = parse_lsn(manifest.start_lsn), parse_lsn(manifest.stop_lsn)
    archived = {tli: set(segs) for tli, segs in view.segments.items()}
    bundled: set[int] = set()
    if any(f.name.startswith("pg_wal.tar") for f in manifest.files):
        # The backup carries the WAL from its start to its end (pg_basebackup -X stream):
        # recovery reads those from pg_wal, so the archive need not hold them.
        bundled = set(range(segment_of(start_lsn, size), segment_of(stop_lsn, size) + 1))
    chain = plan_chain(
        timeline=timeline,
        start_lsn=start_lsn,
        segment_size=size,
        archived={**archived, timeline: archived.get(timeline, set()) | bundled},
        histories=view.histories,
    )
    in_archive = tuple(
        name
        for name in chain.segments
        if parse_lsn_of_segment(name, size) in archived.get(int(name[:8], 16), set())
    )
    if not chain.segments:
        return None
    last = chain.segments[-1]
    last_tli, last_segno = int(last[:8], 16), parse_lsn_of_segment(last, size)
    end_lsn = (last_segno + 1) * size
    if end_lsn < stop_lsn:
        return None  # the WAL the backup needs to become consistent is not all there
    entry = view.segments.get(last_tli, {}).get(last_segno)
    end_time = entry.modified if entry is not None and entry.modified else manifest.stop_time
    partial = _partial_after(chain, view)
    if partial is not None:
        chain = replace(
            chain, segments=(*chain.segments, partial.name[:24]), partial=partial.name[:24]
        )
        in_archive = (*in_archive, partial.name[:24])
        end_lsn += size
        end_time = max(end_time, partial.modified or end_time)
    return BackupRange(
        manifest=manifest,
        chain=replace(chain, staged=in_archive),
        begin_time=manifest.stop_time,
        begin_lsn=stop_lsn,
        end_time=max(end_time, manifest.stop_time),
        end_lsn=max(end_lsn, stop_lsn),
    )


def _partial_after(chain: WalChain, view: ArchiveView) -> ArchivedWal | None:
    """The pushed partial of the segment after the chain's last, if the chain may go on.

    Only at the open end of the newest timeline and with no gap before it: a partial
    never stands in for a segment in the middle of the history.
    """
    if chain.missing or not chain.segments or chain.stretches[-1].end_lsn is not None:
        return None
    last = chain.segments[-1]
    timeline, segno = int(last[:8], 16), parse_lsn_of_segment(last, chain.segment_size)
    if timeline != chain.target_timeline:
        return None
    return view.partials.get(timeline, {}).get(segno + 1)


def recoverable_window(catalog: BackupCatalog, archive: WalArchive) -> RecoverableWindow:
    """The window of every complete full backup in the repository."""
    manifests = [
        e.manifest for e in catalog.list_backups() if e.manifest and e.manifest.type == "full"
    ]
    return _window(manifests, _view(archive, manifests))


def plan_restore(
    catalog: BackupCatalog,
    archive: WalArchive,
    *,
    target: RecoveryTarget,
    backup_id: str | None = None,
    system_identifier: str | None = None,
) -> RestorePlan:
    """Choose the backup and WAL for ``target``; refuse targets outside the window."""
    identity = catalog.require_identity()
    if system_identifier is not None:
        check_same_cluster(identity, system_identifier, where=catalog.repository.url)
    entries = [e for e in catalog.list_backups() if e.manifest and e.manifest.type == "full"]
    manifests = [e.manifest for e in entries if e.manifest is not None]
    if backup_id is not None:
        chosen = catalog.read_manifest(backup_id)  # names an unknown or incomplete backup
        if chosen.type != "full":
            raise InputError(
                f"backup {backup_id} is a {chosen.type} backup (pg_dump); restore and PITR "
                "need a full backup (see `chairside backup list`)",
                field="backup_id",
            )
        manifests = [chosen]
    for manifest in manifests:
        check_same_cluster(identity, manifest.system_identifier, where=catalog.repository.url)
    if not manifests:
        raise NotFoundError(
            f"repository {catalog.repository.url} has no complete full backup to restore "
            "from; take one with `chairside backup full`",
            field="backup_id",
        )
    view = _view(archive, manifests)
    window = _window(manifests, view)
    chosen_range = _choose(window, target, explicit=backup_id is not None)
    if target.kind is TargetKind.LATEST:
        chosen_range.chain.require_complete()
    chain = chosen_range.chain
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
    )


def _view(archive: WalArchive, manifests: Sequence[Manifest]) -> ArchiveView:
    sizes = {m.wal_segment_size for m in manifests if m.wal_segment_size}
    if len(sizes) > 1:
        raise ConflictError(f"backups disagree on the WAL segment size ({sorted(sizes)})")
    return read_archive(archive, segment_size=sizes.pop() if sizes else DEFAULT_SEGMENT_SIZE)


def _window(manifests: Sequence[Manifest], view: ArchiveView) -> RecoverableWindow:
    ranges = [r for m in manifests if (r := backup_range(m, view)) is not None]
    return RecoverableWindow(tuple(ranges))


def _choose(window: RecoverableWindow, target: RecoveryTarget, *, explicit: bool) -> BackupRange:
    ranges = list(window.ranges)
    if not ranges:
        raise TargetOutsideWindowError(
            "no backup can be restored: the WAL each backup needs to become consistent is "
            f"not all in the archive ({window.describe()})",
            field="target",
        )
    newest_first = sorted(ranges, key=lambda r: r.begin_lsn, reverse=True)
    if target.kind is TargetKind.TIME and target.time is not None:
        moment = target.time
        for item in newest_first:
            if item.contains_time(moment):
                return item
        raise TargetOutsideWindowError(_outside(target, window, newest_first), field="target_time")
    if target.kind is TargetKind.LSN and target.lsn is not None:
        for item in newest_first:
            if item.contains_lsn(target.lsn):
                return item
        raise TargetOutsideWindowError(_outside(target, window, newest_first), field="target_lsn")
    if target.kind in {TargetKind.XID, TargetKind.NAME}:
        # Only replay can find these; the oldest backup can reach the most of them.
        return newest_first[-1]
    return newest_first[0]


def _outside(
    target: RecoveryTarget, window: RecoverableWindow, ranges: Sequence[BackupRange]
) -> str:
    gap = next((r.chain.missing for r in ranges if r.chain.missing), None)
    message = (
        f"recovery target {target.describe()} is outside the recoverable window {window.describe()}"
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
    "BackupRange",
    "RecoverableWindow",
    "RestorePlan",
    "TargetOutsideWindowError",
    "plan_restore",
    "recoverable_window",
    "segment_of",
]
