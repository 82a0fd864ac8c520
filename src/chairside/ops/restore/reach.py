"""What a backup can reach: the one answer to "can backup B reach timeline T, target X?".

A full backup taken on timeline *B* becomes consistent at its ``stop_lsn``. From there
recovery can follow its own timeline or any later one whose ``.history`` file says it
branched off *B* (directly or through others) after that point; along the path it reads
each timeline's segments up to the switch point, then the next timeline's. What the
backup reaches on timeline *T* is the run of archived WAL along that path, from its
consistent point to the first missing segment (or the newest archived one).

Where that run ends at the open end of timeline *T* and a receiver pushed the next
segment as ``NAME.partial`` (``wal stream``; the server died while it was being written),
the run goes on with that partial segment, as Barman's ``get-wal --partial`` does
(``WalChain.partial`` names it). A partial never stands in for a segment in the middle
of the history: not after a gap, and not on a timeline other than *T*.

Restore, drill, validation, ``backup status``, retention, sync and the ops console all
ask :func:`backup_reach` (and :meth:`BackupRange.reaches`), so that what one of them
reports is what another one does.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from chairside.errors import ConflictError, InputError
from chairside.ops.backup.manifest import Manifest
from chairside.ops.backup.walarchive import ArchivedWal, WalArchive, parse_lsn
from chairside.ops.restore.targets import RecoveryTarget, TargetKind, format_lsn
from chairside.ops.restore.wal_chain import (
    TimelineSwitch,
    WalChain,
    descends_from,
    parse_history,
    plan_chain,
    segment_of,
)

DEFAULT_SEGMENT_SIZE = 16 * 1024 * 1024


@dataclass(frozen=True)
class ArchiveView:
    """One listing of the WAL archive: segments per timeline, and the history files."""

    segments: dict[int, dict[int, ArchivedWal]]
    histories: dict[int, list[TimelineSwitch]]
    history_files: tuple[str, ...]
    duplicates: frozenset[str] = frozenset()  # names archived more than once
    segment_size: int = DEFAULT_SEGMENT_SIZE
    # The newest pushed partial version per timeline and segment number (``wal stream``).
    partials: dict[int, dict[int, ArchivedWal]] = field(default_factory=dict)

    def entry(self, name: str, segment_size: int | None = None) -> ArchivedWal:
        """The archived object of segment ``name``: the finished one, else its partial."""
        size = segment_size or self.segment_size
        timeline, segno = int(name[:8], 16), parse_lsn_of_segment(name, size)
        found = self.segments.get(timeline, {}).get(segno)
        return found if found is not None else self.partials[timeline][segno]

    def timelines(self, extra: Iterable[int] = ()) -> list[int]:
        """Every timeline the archive (and ``extra``, e.g. backups) knows, oldest first."""
        found = set(self.segments) | set(self.histories) | set(extra)
        for switches in self.histories.values():
            found.update(s.timeline for s in switches)
        return sorted(found)

    def parent(self, timeline: int) -> TimelineSwitch | None:
        """The timeline ``timeline`` branched from and where (None: it has no history)."""
        switches = self.histories.get(timeline)
        return switches[-1] if switches else None


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
    # Windows end at the newest segment of a run (or a partial): give those their archive
    # time, which an S3 DR copy's listing does not carry (WalArchive.archive_time).
    for found in segments.values():
        for segno in [n for n in found if n + 1 not in found]:
            found[segno] = archive.archive_time(found[segno])
    for found in partials.values():
        for segno, entry in found.items():
            found[segno] = archive.archive_time(entry)
    return ArchiveView(
        segments, histories, tuple(history_files), frozenset(duplicates), segment_size, partials
    )


def view_for(archive: WalArchive, manifests: Sequence[Manifest]) -> ArchiveView:
    """Read the archive with the segment size the backups agree on."""
    sizes = {m.wal_segment_size for m in manifests if m.wal_segment_size}
    if len(sizes) > 1:
        raise ConflictError(f"backups disagree on the WAL segment size ({sorted(sizes)})")
    return read_archive(archive, segment_size=sizes.pop() if sizes else DEFAULT_SEGMENT_SIZE)


def parse_lsn_of_segment(name: str, segment_size: int) -> int:
    per_log = 0x100000000 // segment_size
    return int(name[8:16], 16) * per_log + int(name[16:24], 16)


@dataclass(frozen=True)
class BackupRange:
    """What one backup reaches on one timeline: from its consistent end to its WAL's end."""

    manifest: Manifest
    chain: WalChain
    begin_time: datetime
    begin_lsn: int
    end_time: datetime
    end_lsn: int

    @property
    def backup_id(self) -> str:
        return self.manifest.id

    @property
    def timeline(self) -> int:
        return self.chain.target_timeline

    def contains_time(self, moment: datetime) -> bool:
        return self.begin_time <= moment <= self.end_time

    def contains_lsn(self, lsn: int) -> bool:
        return self.begin_lsn <= lsn <= self.end_lsn

    def reaches(self, target: RecoveryTarget, *, record_lsn: int | None = None) -> bool:
        """Whether recovery from this backup along this timeline can stop at ``target``.

        Transaction ids and restore point names are placed by their record's LSN
        (``record_lsn``, found in the archived WAL); without it they cannot be judged.
        """
        if target.kind is TargetKind.LATEST:
            return self.chain.missing is None
        if target.kind is TargetKind.IMMEDIATE:
            return True
        if target.kind is TargetKind.TIME and target.time is not None:
            return self.contains_time(target.time)
        if target.kind is TargetKind.LSN and target.lsn is not None:
            return self.contains_lsn(target.lsn)
        return record_lsn is not None and self.contains_lsn(record_lsn)

    def to_dict(self) -> dict[str, object]:
        return {
            "backup_id": self.backup_id,
            "timeline": self.timeline,
            "backup_timeline": self.manifest.timeline or 1,
            "earliest_time": self.begin_time.isoformat(),
            "latest_time": self.end_time.isoformat(),
            "earliest_lsn": format_lsn(self.begin_lsn),
            "latest_lsn": format_lsn(self.end_lsn),
            "wal_segments": len(self.chain.segments),
            "missing_segment": self.chain.missing,
        }


def backup_reach(
    manifest: Manifest, view: ArchiveView, *, timeline: int | None = None
) -> BackupRange | None:
    """What ``manifest`` reaches on ``timeline`` (None: cannot reach it, or never consistent).

    Without ``timeline`` the newest timeline descending from the backup that has
    archived WAL is followed (PostgreSQL's ``latest``).
    """
    if manifest.type != "full" or manifest.start_lsn is None or manifest.stop_lsn is None:
        return None
    size = manifest.wal_segment_size or DEFAULT_SEGMENT_SIZE
    own = manifest.timeline or 1
    start_lsn, stop_lsn = parse_lsn(manifest.start_lsn), parse_lsn(manifest.stop_lsn)
    # The copy must be consistent before recovery leaves the backup's timeline.
    if timeline is not None and not descends_from(
        timeline, ancestor=own, after_lsn=stop_lsn - 1, histories=view.histories
    ):
        return None
    archived = {tli: set(segs) for tli, segs in view.segments.items()}
    bundled: set[int] = set()
    if any(f.name.startswith("pg_wal.tar") for f in manifest.files):
        # The backup carries the WAL from its start to its end (pg_basebackup -X stream):
        # recovery reads those from pg_wal, so the archive need not hold them.
        bundled = set(range(segment_of(start_lsn, size), segment_of(stop_lsn, size) + 1))
    try:
        chain = plan_chain(
            timeline=own,
            start_lsn=start_lsn,
            segment_size=size,
            archived={**archived, own: archived.get(own, set()) | bundled},
            histories=view.histories,
            target_timeline=timeline,
        )
    except InputError:
        return None
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
    final = chain.stretches[-1]
    if partial is not None:
        name = partial.name[:24]
        chain = replace(chain, segments=(*chain.segments, name), partial=name)
        in_archive = (*in_archive, name)
        end_lsn += size
        end_time = max(end_time, partial.modified or end_time)
    elif final.end_lsn is None and last_tli != final.timeline and chain.missing is None:
        # The asked timeline has no segment archived yet: recovery ends before its switch.
        end_lsn = min(end_lsn, final.begin_lsn)
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

    Only at the open end of the chain's (target) timeline and with no gap before it.
    The next segment may be the first of that timeline (the one holding its switch
    point) when none of its own is archived yet.
    """
    final = chain.stretches[-1]
    if chain.missing or not chain.segments or final.end_lsn is not None:
        return None
    segno = parse_lsn_of_segment(chain.segments[-1], chain.segment_size) + 1
    if segno < final.first:
        return None
    return view.partials.get(final.timeline, {}).get(segno)


def ranges_on(
    manifests: Iterable[Manifest], view: ArchiveView, *, timeline: int
) -> list[BackupRange]:
    """What each backup reaches on ``timeline``, newest backup first (unreachable left out)."""
    found = [r for m in manifests if (r := backup_reach(m, view, timeline=timeline)) is not None]
    return sorted(found, key=lambda r: r.begin_lsn, reverse=True)


__all__ = [
    "DEFAULT_SEGMENT_SIZE",
    "ArchiveView",
    "BackupRange",
    "backup_reach",
    "parse_lsn_of_segment",
    "ranges_on",
    "read_archive",
    "view_for",
]
