"""Which WAL segments a recovery needs, and whether the archive has all of them.

A base backup taken on timeline *B* at ``start_lsn`` replays WAL from the segment that
holds ``start_lsn`` onwards. When the archive holds later timelines that branched off
*B* after that point (an earlier point-in-time restore promoted a copy), recovery can
follow them: the history file of timeline *T* lists each ancestor and the LSN where it
was left. For every timeline on that path this module names the segments recovery
reads, and reports the first gap. It judges names only (the archive's checksums are the
integrity layer's business), which is also what continuity validation needs.

Segment numbering: a segment name is ``TTTTTTTTXXXXXXXXYYYYYYYY`` (timeline, then the
segment number split in "log" and "seg" parts, with ``2**32 / segment size`` segments
per log).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from chairside.errors import InputError, OperationFailedError

SEGMENT_NAME = re.compile(r"^([0-9A-F]{8})([0-9A-F]{8})([0-9A-F]{8})$")
HISTORY_NAME = re.compile(r"^([0-9A-F]{8})\.history$")


class WalGapError(OperationFailedError):
    """The archive lacks a WAL segment a recovery (or the continuity check) needs."""


@dataclass(frozen=True)
class TimelineSwitch:
    """One line of a history file: ``timeline`` was left at ``switch_lsn`` (exclusive)."""

    timeline: int
    switch_lsn: int
    reason: str = ""


@dataclass(frozen=True)
class TimelineStretch:
    """The segments recovery reads on one timeline: ``first``..``last`` inclusive."""

    timeline: int
    first: int
    last: int | None  # None: up to the newest archived segment of this timeline
    begin_lsn: int
    end_lsn: int | None  # where recovery leaves this timeline; None on the last one


@dataclass(frozen=True)
class WalChain:
    """The path of timelines and segments a recovery from one backup follows."""

    stretches: tuple[TimelineStretch, ...]
    segments: tuple[str, ...]  # every segment name, in replay order, up to any gap
    segment_size: int
    missing: str | None = None  # the first segment the archive lacks, if any
    staged: tuple[str, ...] | None = None  # the ones to fetch (None: all of ``segments``)
    # The last segment, when it comes from a receiver's partial segment (its finished
    # file was never archived: the server died while it was being written).
    partial: str | None = None

    @property
    def to_fetch(self) -> tuple[str, ...]:
        """The segments to fetch from the archive (the rest come with the backup)."""
        return self.segments if self.staged is None else self.staged

    def require_complete(self) -> None:
        """Raise :class:`WalGapError` naming the first missing segment, if there is one."""
        if self.missing:
            timeline = int(self.missing[:8], 16)
            raise WalGapError(
                f"WAL segment {self.missing} (timeline {timeline}) is missing from the archive "
                "in the middle of the chain; recovery cannot go past "
                f"{self.segments[-1] if self.segments else 'the backup start'}"
            )

    @property
    def target_timeline(self) -> int:
        return self.stretches[-1].timeline

    @property
    def newest_segment(self) -> str | None:
        return self.segments[-1] if self.segments else None


def segment_name(timeline: int, segno: int, segment_size: int) -> str:
    """The file name of segment ``segno`` on ``timeline``."""
    per_log = 0x100000000 // segment_size
    return f"{timeline:08X}{segno // per_log:08X}{segno % per_log:08X}"


def parse_segment_name(name: str, segment_size: int) -> tuple[int, int]:
    """``(timeline, segno)`` of a segment file name."""
    match = SEGMENT_NAME.match(name)
    if not match:
        raise InputError(f"{name!r} is not a WAL segment name (24 hex digits)")
    per_log = 0x100000000 // segment_size
    low = int(match.group(3), 16)
    if low >= per_log:
        raise InputError(
            f"{name!r} is not a segment of a cluster with {segment_size // 1024**2} MB segments"
        )
    return int(match.group(1), 16), int(match.group(2), 16) * per_log + low


def segment_of(lsn: int, segment_size: int) -> int:
    """The number of the segment holding ``lsn``."""
    return lsn // segment_size


def parse_history(content: str) -> list[TimelineSwitch]:
    """The ancestors listed in a ``.history`` file, oldest first."""
    switches = []
    for line in content.splitlines():
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        parts = text.split(None, 2)
        try:
            high, _, low = parts[1].partition("/")
            switches.append(
                TimelineSwitch(
                    timeline=int(parts[0]),
                    switch_lsn=(int(high, 16) << 32) | int(low, 16),
                    reason=parts[2] if len(parts) > 2 else "",
                )
            )
        except (IndexError, ValueError):
            raise OperationFailedError(f"timeline history line {line!r} is malformed") from None
    return switches


def descends_from(
    timeline: int,
    *,
    ancestor: int,
    after_lsn: int,
    histories: Mapping[int, Sequence[TimelineSwitch]],
) -> bool:
    """True when ``timeline`` is ``ancestor`` or branched from it after ``after_lsn``."""
    if timeline == ancestor:
        return True
    for switch in histories.get(timeline, ()):
        if switch.timeline == ancestor:
            return switch.switch_lsn > after_lsn
    return False


def plan_chain(
    *,
    timeline: int,
    start_lsn: int,
    segment_size: int,
    archived: Mapping[int, Iterable[int]],
    histories: Mapping[int, Sequence[TimelineSwitch]],
    target_timeline: int | None = None,
) -> WalChain:
    """The segments recovery from a backup at ``(timeline, start_lsn)`` reads.

    ``archived`` maps each timeline to the segment numbers the archive holds. Without
    ``target_timeline`` the newest timeline that descends from the backup and has
    archived WAL is followed, as PostgreSQL's ``recovery_target_timeline = latest`` does.
    A gap ends the chain: ``missing`` names the first absent segment.
    """
    present = {tli: set(segnos) for tli, segnos in archived.items()}
    if target_timeline is None:
        candidates = [
            tli
            for tli in set(present) | set(histories) | {timeline}
            if descends_from(tli, ancestor=timeline, after_lsn=start_lsn, histories=histories)
            and (present.get(tli) or tli == timeline)
        ]
        target_timeline = max(candidates)
    elif not descends_from(
        target_timeline, ancestor=timeline, after_lsn=start_lsn, histories=histories
    ):
        raise InputError(
            f"timeline {target_timeline} does not descend from timeline {timeline} after the "
            "backup's start, so this backup cannot reach it; pick a later backup"
        )
    path = _timeline_path(timeline, target_timeline, histories)
    stretches: list[TimelineStretch] = []
    begin = start_lsn
    for index, tli in enumerate(path):
        end = None if index == len(path) - 1 else _switch_point(path[index + 1], tli, histories)
        first = segment_of(begin, segment_size)
        # The segment holding a switch point is read from the newer timeline, which
        # carries a copy of the older one's records up to that point.
        last = None if end is None else segment_of(end, segment_size) - 1
        stretches.append(TimelineStretch(tli, first, last, begin, end))
        if end is not None:
            begin = end
    names: list[str] = []
    missing: str | None = None
    for stretch in stretches:
        have = present.get(stretch.timeline, set())
        last = stretch.last
        if last is None:
            last = max((s for s in have if s >= stretch.first), default=stretch.first - 1)
        for segno in range(stretch.first, last + 1):
            name = segment_name(stretch.timeline, segno, segment_size)
            if segno not in have:
                missing = name
                break
            names.append(name)
        if missing:
            break
    return WalChain(tuple(stretches), tuple(names), segment_size, missing)


def gaps(
    *,
    timeline: int,
    first: int,
    archived: Iterable[int],
    segment_size: int,
    last: int | None = None,
) -> list[str]:
    """Names of segments of ``timeline`` missing between ``first`` and ``last`` (or newest)."""
    have = set(archived)
    end = last if last is not None else max((s for s in have if s >= first), default=first - 1)
    return [
        segment_name(timeline, segno, segment_size)
        for segno in range(first, end + 1)
        if segno not in have
    ]


def _timeline_path(
    start: int, target: int, histories: Mapping[int, Sequence[TimelineSwitch]]
) -> list[int]:
    if target == start:
        return [start]
    ancestors = [s.timeline for s in histories.get(target, ())]
    if start not in ancestors:
        raise InputError(f"timeline {target} has no history back to timeline {start}")
    return [*ancestors[ancestors.index(start) :], target]


def _switch_point(
    child: int, parent: int, histories: Mapping[int, Sequence[TimelineSwitch]]
) -> int:
    for switch in histories.get(child, ()):
        if switch.timeline == parent:
            return switch.switch_lsn
    raise InputError(f"timeline {child} has no switch point from timeline {parent}")
