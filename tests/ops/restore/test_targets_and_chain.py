"""Target parsing and WAL-chain planning, without a cluster: the rules behind every restore."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from chairside.errors import InputError
from chairside.ops.restore.targets import TargetKind, build_target, format_lsn, parse_lsn
from chairside.ops.restore.wal_chain import (
    WalGapError,
    parse_history,
    plan_chain,
    segment_name,
)

MB = 1024 * 1024
NOW = datetime(2026, 11, 23, 5, 0, tzinfo=UTC)


def test_a_time_without_offset_is_utc_and_one_with_an_offset_is_converted() -> None:
    plain = build_target(time="2026-11-23 04:00:00", now=NOW)
    assert plain.time == datetime(2026, 11, 23, 4, 0, tzinfo=UTC)
    berlin = build_target(time="2026-11-23T05:00:00+01:00", now=NOW)
    assert berlin.time == datetime(2026, 11, 23, 4, 0, tzinfo=UTC)
    assert berlin.postgres_settings() == {
        "recovery_target_time": "2026-11-23 04:00:00.000000+00:00",
        "recovery_target_inclusive": "on",
    }


def test_it_refuses_a_future_time_a_malformed_time_and_two_targets() -> None:
    with pytest.raises(InputError, match="in the future"):
        build_target(time=(NOW + timedelta(minutes=1)).isoformat(), now=NOW)
    with pytest.raises(InputError, match="'noonish' is not a time"):
        build_target(time="noonish", now=NOW)
    with pytest.raises(InputError, match="--target-time, --target-lsn"):
        build_target(time=NOW.isoformat(), lsn="0/1", now=NOW)
    with pytest.raises(InputError, match="got none"):
        build_target()


def test_lsn_xid_and_name_targets_become_the_matching_settings() -> None:
    assert format_lsn(parse_lsn("0/16B3748")) == "0/16B3748"
    lsn = build_target(lsn="1/A0", exclusive=True)
    assert lsn.postgres_settings() == {
        "recovery_target_lsn": "1/A0",
        "recovery_target_inclusive": "off",
    }
    assert build_target(xid="1234").postgres_settings()["recovery_target_xid"] == "1234"
    assert build_target(name="before-migration").kind is TargetKind.NAME
    assert build_target(immediate=True).postgres_settings() == {"recovery_target": "immediate"}
    with pytest.raises(InputError, match="transaction id '2'"):
        build_target(xid="2")


def test_a_chain_runs_from_the_backup_start_to_the_newest_segment() -> None:
    chain = plan_chain(
        timeline=1, start_lsn=3 * MB + 40, segment_size=MB,
        archived={1: range(2, 9)}, histories={},
    )  # fmt: skip
    assert chain.segments == tuple(segment_name(1, n, MB) for n in range(3, 9))
    assert chain.missing is None and chain.target_timeline == 1


def test_a_gap_ends_the_chain_and_is_named() -> None:
    chain = plan_chain(
        timeline=1, start_lsn=3 * MB, segment_size=MB,
        archived={1: [3, 4, 6, 7]}, histories={},
    )  # fmt: skip
    assert chain.segments == (segment_name(1, 3, MB), segment_name(1, 4, MB))
    assert chain.missing == "000000010000000000000005"
    with pytest.raises(WalGapError, match="000000010000000000000005"):
        chain.require_complete()


def test_a_chain_follows_a_later_timeline_that_branched_after_the_backup() -> None:
    histories = {2: parse_history("1\t0/600100\tafter a point-in-time restore\n")}
    chain = plan_chain(
        timeline=1, start_lsn=3 * MB, segment_size=MB,
        archived={1: range(3, 8), 2: range(6, 10)}, histories=histories,
    )  # fmt: skip
    # Segment 6 holds the switch point, so it is read from timeline 2.
    assert chain.target_timeline == 2
    assert chain.segments == tuple(
        [segment_name(1, n, MB) for n in range(3, 6)]
        + [segment_name(2, n, MB) for n in range(6, 10)]
    )
    # A timeline that branched off before the backup started cannot be followed from it.
    early = plan_chain(
        timeline=1, start_lsn=7 * MB, segment_size=MB,
        archived={1: range(3, 9), 2: range(6, 10)}, histories=histories,
    )  # fmt: skip
    assert early.target_timeline == 1
