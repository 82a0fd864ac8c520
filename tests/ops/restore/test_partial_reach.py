"""A receiver's pushed partial segment ends a restore's chain only at the chosen timeline's
open end (issue 18 on issue 13's timelines), without a cluster: the rules behind the plan."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from chairside.ops.backup.manifest import Manifest
from chairside.ops.backup.walarchive import ArchivedWal
from chairside.ops.restore.reach import ArchiveView, backup_reach
from chairside.ops.restore.targets import LATEST
from chairside.ops.restore.wal_chain import parse_history, segment_name

MB = 1024 * 1024
T0 = datetime(2026, 11, 23, 4, 0, tzinfo=UTC)


def _wal(timeline: int, segno: int, *, partial: bool = False, minute: int = 0) -> ArchivedWal:
    name = segment_name(timeline, segno, MB) + (".partial" if partial else "")
    return ArchivedWal(
        name,
        "partial" if partial else "segment",
        f"wal/{name}",
        None,
        100,
        T0 + timedelta(minutes=minute or segno),
    )


def _view(
    segments: dict[int, list[int]],
    partials: dict[int, list[int]],
    histories: str = "",
) -> ArchiveView:
    pushed = {t: {n: _wal(t, n, partial=True, minute=90) for n in ns} for t, ns in partials.items()}
    return ArchiveView(
        segments={t: {n: _wal(t, n) for n in ns} for t, ns in segments.items()},
        histories={2: parse_history(histories)} if histories else {},
        history_files=("00000002.history",) if histories else (),
        segment_size=MB,
        partials=pushed,
    )


def _backup() -> Manifest:
    return Manifest(
        id="20261123T040000Z-full", type="full", pg_version=15, system_identifier="1",
        start_time=T0, stop_time=T0 + timedelta(minutes=1), files=(), timeline=1,
        start_lsn="0/300028", stop_lsn="0/300100", wal_segment_size=MB,
    )  # fmt: skip


def test_the_partial_after_the_newest_segment_ends_the_chain_and_its_push_time_the_window() -> None:
    view = _view({1: [3, 4, 5]}, {1: [6, 2]})
    reach = backup_reach(_backup(), view)
    assert reach is not None
    name = segment_name(1, 6, MB)
    assert reach.chain.segments[-1] == name and reach.chain.partial == name
    assert name in reach.chain.to_fetch
    assert view.entry(name).name == f"{name}.partial"  # what staging fetches for it
    assert reach.end_time == T0 + timedelta(minutes=90)
    assert reach.end_lsn == 7 * MB
    assert reach.reaches(LATEST)


def test_a_partial_never_fills_a_gap_or_serves_a_timeline_the_restore_leaves() -> None:
    # Segment 5 is missing while 6 is archived: 5's partial (or 7's) is no end of the
    # history, and replaying it would end "latest" early without a word.
    gap = backup_reach(_backup(), _view({1: [3, 4, 6]}, {1: [5, 7]}))
    assert gap is not None and gap.chain.partial is None and gap.chain.missing is not None
    # Timeline 2 branched off 1 inside segment 5: timeline 1's partial (its abandoned
    # tail) is not the end of timeline 2.
    history = "1\t0/580000\tafter a point-in-time restore\n"
    view = _view({1: [3, 4, 5], 2: [5, 6]}, {1: [6], 2: [7]}, history)
    on_two = backup_reach(_backup(), view, timeline=2)
    assert on_two is not None
    assert on_two.chain.partial == segment_name(2, 7, MB)
    assert [n[:8] for n in on_two.chain.segments] == ["00000001"] * 2 + ["00000002"] * 3
    # Restoring timeline 1 itself: its open end is segment 6's partial.
    on_one = backup_reach(_backup(), view, timeline=1)
    assert on_one is not None and on_one.chain.partial == segment_name(1, 6, MB)
    # The partial of an earlier segment than the chain's end is stale and ignored.
    stale = backup_reach(_backup(), _view({1: [3, 4, 5]}, {1: [4]}))
    assert stale is not None and stale.chain.partial is None


def test_a_new_timeline_with_only_a_partial_ends_with_it_at_its_switch_segment() -> None:
    # The server promoted onto timeline 2 in segment 5 and died before archiving any
    # finished segment of it; the receiver pushed 00000002...05.partial.
    history = "1\t0/580000\tafter a point-in-time restore\n"
    view = _view({1: [3, 4, 5]}, {2: [5]}, history)
    reach = backup_reach(_backup(), view, timeline=2)
    assert reach is not None
    assert reach.chain.segments == (
        segment_name(1, 3, MB), segment_name(1, 4, MB), segment_name(2, 5, MB),
    )  # fmt: skip
    assert reach.chain.partial == segment_name(2, 5, MB)
    assert reach.end_lsn == 6 * MB
