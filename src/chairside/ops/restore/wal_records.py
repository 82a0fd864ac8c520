"""Finding records in the archived WAL with ``pg_waldump``.

A transaction id or a restore point name says nothing about *where* it is, and xids
repeat across timelines (a promoted copy goes on numbering from its switch point). So
before choosing a backup for such a target, the archived segments along the asked
timeline's history are read, newest first, for the commit (or abort) record of the
transaction or the restore point record; its LSN then picks the backup as an LSN target
would. The same reader finds the last commit time of a WAL chain, which is the latest
moment a time target can restore to.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from chairside.errors import ChairsideError, NotFoundError
from chairside.ops.backup.codec import IntegrityError
from chairside.ops.backup.walarchive import WalArchive, parse_lsn
from chairside.ops.restore.reach import ArchiveView, parse_lsn_of_segment
from chairside.ops.restore.targets import RecoveryTarget, TargetKind, format_lsn
from chairside.ops.restore.wal_chain import segment_name, segment_of

CHUNK = 16  # segments read by one pg_waldump run
_LINE = re.compile(
    r"tx:\s+(?P<xid>\d+), lsn: (?P<lsn>[0-9A-F]+/[0-9A-F]+), prev \S+, desc: "
    r"(?P<what>COMMIT_PREPARED|ABORT_PREPARED|COMMIT|ABORT|RESTORE_POINT) ?(?P<rest>.*)$"
)
_TIME = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?) (\S+)")


@dataclass(frozen=True)
class WalRecord:
    """One commit, abort or restore point record found in the archive."""

    timeline: int
    lsn: int
    xid: int
    kind: str  # COMMIT, ABORT, COMMIT_PREPARED, ABORT_PREPARED, RESTORE_POINT
    at: datetime | None
    name: str | None = None

    def to_dict(self) -> dict[str, object]:
        return {
            "timeline": self.timeline,
            "lsn": format_lsn(self.lsn),
            "xid": self.xid,
            "kind": self.kind,
            "at": self.at.isoformat() if self.at else None,
            "name": self.name,
        }


@dataclass(frozen=True)
class Stretch:
    """Archived segments of one timeline that lie on the asked timeline's history."""

    timeline: int
    segnos: tuple[int, ...]  # ascending
    begin_lsn: int
    end_lsn: int | None  # the switch point to the next timeline of the path

    def describe(self, segment_size: int) -> str:
        if not self.segnos:
            return f"timeline {self.timeline}: no segment"
        first = segment_name(self.timeline, self.segnos[0], segment_size)
        last = segment_name(self.timeline, self.segnos[-1], segment_size)
        return f"timeline {self.timeline}: {len(self.segnos)} segments {first}..{last}"


class TargetRecordNotFoundError(NotFoundError):
    """The transaction or restore point is not in the archived WAL of the timeline."""


def history_stretches(view: ArchiveView, timeline: int) -> list[Stretch]:
    """The archived segments along ``timeline``'s history (ancestors first)."""
    switches = view.histories.get(timeline, [])
    path = [s.timeline for s in switches] + [timeline]
    ends = [s.switch_lsn for s in switches] + [None]
    size = view.segment_size
    stretches = []
    begin = 0
    for tli, end in zip(path, ends, strict=True):
        have = sorted(view.segments.get(tli, {}))
        first = segment_of(begin, size)
        # The segment holding a switch point is read from the newer timeline.
        last = None if end is None else segment_of(end, size) - 1
        segnos = tuple(s for s in have if s >= first and (last is None or s <= last))
        after = (segnos[-1] if segnos else first - 1) + 1
        if end is None and after in view.partials.get(tli, {}):
            segnos = (*segnos, after)  # the receiver's partial at the timeline's open end
        stretches.append(Stretch(tli, segnos, begin, end))
        if end is not None:
            begin = end
    return stretches


def find_target_record(
    archive: WalArchive,
    view: ArchiveView,
    *,
    target: RecoveryTarget,
    timeline: int,
    pg_bin_dir: Path,
) -> WalRecord:
    """The record ``target`` (xid or name) stops at on ``timeline``'s history, newest first."""
    stretches = history_stretches(view, timeline)
    for stretch in reversed(stretches):
        for record in _scan_newest_first(archive, view, stretch, target, pg_bin_dir):
            return record
    searched = "; ".join(s.describe(view.segment_size) for s in stretches)
    message = f"{target.describe()} is not in the archived WAL of timeline {timeline}'s history"
    elsewhere = _found_elsewhere(archive, view, target, timeline, pg_bin_dir)
    if elsewhere is not None:
        message += (
            f"; it is on timeline {elsewhere.timeline} at LSN {format_lsn(elsewhere.lsn)} "
            f"(pass --target-timeline {elsewhere.timeline} to restore that branch)"
        )
    raise TargetRecordNotFoundError(
        f"{message} (searched {searched})",
        field="target_xid" if target.kind is TargetKind.XID else "target_name",
    )


def last_commit(
    archive: WalArchive, view: ArchiveView, segments: Sequence[str], *, pg_bin_dir: Path
) -> WalRecord | None:
    """The newest commit record in the last few of ``segments`` (a chain, in replay order)."""
    # One pg_waldump run reads one timeline: the newest segments of the chain's last one.
    tail = [n for n in segments[-CHUNK:] if n[:8] == segments[-1][:8]] if segments else []
    for start in range(len(tail), 0, -4):
        names = tail[max(0, start - 4) : start]
        found = [
            r
            for r in _dump(archive, view, names, rmgr="Transaction", pg_bin_dir=pg_bin_dir)
            if r.kind in {"COMMIT", "COMMIT_PREPARED"}
        ]
        if found:
            return max(found, key=lambda r: r.lsn)
    return None


def _scan_newest_first(
    archive: WalArchive,
    view: ArchiveView,
    stretch: Stretch,
    target: RecoveryTarget,
    pg_bin_dir: Path,
) -> Iterator[WalRecord]:
    size = view.segment_size
    segnos = list(stretch.segnos)
    for stop in range(len(segnos), 0, -CHUNK):
        chunk = segnos[max(0, stop - CHUNK) : stop]
        names = [segment_name(stretch.timeline, s, size) for s in chunk]
        matches = [
            r
            for r in _dump(
                archive,
                view,
                names,
                pg_bin_dir=pg_bin_dir,
                rmgr="Transaction" if target.kind is TargetKind.XID else "XLOG",
                xid=target.xid if target.kind is TargetKind.XID else None,
            )  # fmt: skip
            if _matches(r, target)
            and r.lsn >= stretch.begin_lsn
            and (stretch.end_lsn is None or r.lsn < stretch.end_lsn)
        ]
        yield from sorted(matches, key=lambda r: r.lsn, reverse=True)


def _found_elsewhere(
    archive: WalArchive,
    view: ArchiveView,
    target: RecoveryTarget,
    timeline: int,
    pg_bin_dir: Path,
) -> WalRecord | None:
    searched = history_stretches(view, timeline)

    def on_path(record: WalRecord) -> bool:
        return any(
            s.timeline == record.timeline
            and s.begin_lsn <= record.lsn
            and (s.end_lsn is None or record.lsn < s.end_lsn)
            for s in searched
        )

    for other in sorted(set(view.segments) - {timeline}, reverse=True):
        own = history_stretches(view, other)[-1]
        for record in _scan_newest_first(archive, view, own, target, pg_bin_dir):
            if not on_path(record):
                return record
    return None


def _matches(record: WalRecord, target: RecoveryTarget) -> bool:
    if target.kind is TargetKind.XID:
        return record.xid == target.xid and record.kind != "RESTORE_POINT"
    return record.kind == "RESTORE_POINT" and record.name == target.name


def _dump(
    archive: WalArchive,
    view: ArchiveView,
    names: Sequence[str],
    *,
    rmgr: str,
    pg_bin_dir: Path,
    xid: int | None = None,
) -> list[WalRecord]:
    if not names:
        return []
    timeline = int(names[0][:8], 16)
    with tempfile.TemporaryDirectory(prefix="chairside-waldump-") as tmp:
        directory = Path(tmp)
        fetched = []
        for name in names:
            try:
                _fetch(archive, view, name, directory / name)
                fetched.append(name)
            except ChairsideError:
                break  # a damaged or vanished segment ends what this run can read
        if not fetched:
            return []
        argv = [
            str(pg_bin_dir / "pg_waldump"), "-p", str(directory), "-t", str(timeline),
            "-r", rmgr, fetched[0], fetched[-1],
        ]  # fmt: skip
        if xid is not None:
            argv[1:1] = ["-x", str(xid)]
        # pg_waldump exits non-zero at the end of what it was given; its output stands.
        result = subprocess.run(
            argv, capture_output=True, text=True, timeout=600, check=False,
            env={**os.environ, "TZ": "UTC"},
        )  # fmt: skip
    return [r for line in result.stdout.splitlines() if (r := _parse(line, timeline))]


def _fetch(archive: WalArchive, view: ArchiveView, name: str, destination: Path) -> None:
    """Fetch segment ``name``; where only a receiver's partial of it exists, that one."""
    size = view.segment_size
    timeline, segno = int(name[:8], 16), parse_lsn_of_segment(name, size)
    partial = view.partials.get(timeline, {}).get(segno)
    if partial is None or segno in view.segments.get(timeline, {}):
        archive.fetch(name, destination)
        return
    content = archive.content(partial)
    if partial.sha256 and hashlib.sha256(content).hexdigest() != partial.sha256:
        raise IntegrityError(
            f"archived WAL {partial.name} is damaged: its content does not match the checksum "
            f"in its key {partial.key}"
        )
    destination.write_bytes(content)


def _parse(line: str, timeline: int) -> WalRecord | None:
    match = _LINE.search(line)
    if not match:
        return None
    what, rest = match.group("what"), match.group("rest").strip()
    at = None
    name = None
    if what == "RESTORE_POINT":
        name = rest
    else:
        stamp = _TIME.match(rest)
        if stamp:
            at = _parse_time(stamp.group(1), stamp.group(2))
    return WalRecord(
        timeline, parse_lsn(match.group("lsn")), int(match.group("xid")), what, at, name
    )


def _parse_time(text: str, zone: str) -> datetime | None:
    from datetime import UTC
    from zoneinfo import ZoneInfo

    try:
        moment = datetime.fromisoformat(text)
        tz = UTC if zone in {"UTC", "GMT"} else ZoneInfo(zone)
    except (ValueError, KeyError):
        return None
    return moment.replace(tzinfo=tz).astimezone(UTC)
