"""The LSN clock dates the shipped LSN no later than the server passed it: RPO never understated."""

from __future__ import annotations

from pathlib import Path

from chairside.ops.backup.lsn_clock import LsnClock


def test_the_time_of_a_shipped_lsn_is_the_newest_sample_at_or_below_it(tmp_path: Path) -> None:
    clock = LsnClock(tmp_path / "clock.json", cluster="1")
    for at, lsn in [(100.0, 1000), (101.0, 2000), (102.0, 3000), (103.0, 4000)]:
        clock.record(lsn, at=at)
    assert clock.passed_at(2500) == 101.0  # passed 2500 after 101: a loss of >= now - 101
    assert clock.passed_at(3000) == 102.0
    assert clock.passed_at(999) is None  # no sample that old: the caller falls back
    again = LsnClock(tmp_path / "clock.json", cluster="1")  # another process reads the file
    assert again.passed_at(4100) == 103.0


def test_samples_closer_than_a_second_keep_the_older_and_a_new_cluster_starts_over(
    tmp_path: Path,
) -> None:
    clock = LsnClock(tmp_path / "clock.json", cluster="1")
    clock.record(1000, at=100.0)
    clock.record(1500, at=100.5)
    assert clock.samples == [(100.0, 1000)]
    clock.record(500, at=102.0)  # the LSN went back: not the same history
    assert clock.samples == [(102.0, 500)]
    assert LsnClock(tmp_path / "clock.json", cluster="2").samples == []
