"""DR retention: the primary's rules (count, window, minimum) with the copy's own numbers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from chairside.errors import InputError
from chairside.ops.backup.manifest import BackupType, Manifest, new_backup_id
from chairside.ops.backup.sync.retention import DrRetentionPolicy

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def backup(days_ago: float, backup_type: BackupType = "full") -> Manifest:
    start = NOW - timedelta(days=days_ago)
    return Manifest(
        id=new_backup_id(backup_type, start),
        type=backup_type,
        pg_version=150000,
        system_identifier="1",
        start_time=start,
        stop_time=start + timedelta(minutes=5),
        files=(),
    )


def test_with_no_numbers_the_copy_keeps_everything() -> None:
    backups = [backup(d) for d in (30, 20, 10, 1)]
    assert DrRetentionPolicy().kept(backups, NOW) == {b.id for b in backups}


def test_a_window_keeps_what_recovers_its_first_moment_and_everything_after() -> None:
    old, anchor, inside, newest = backup(30), backup(9), backup(3), backup(1)

    kept = DrRetentionPolicy(days=7).kept([old, anchor, inside, newest], NOW)

    assert kept == {anchor.id, inside.id, newest.id}


def test_counts_apply_per_backup_type_and_never_below_the_minimum() -> None:
    fulls = [backup(d) for d in (4, 3, 2)]
    dumps = [backup(d, "logical") for d in (4, 3, 2)]

    kept = DrRetentionPolicy(count=1, minimum=2).kept([*fulls, *dumps], NOW)

    assert kept == {fulls[1].id, fulls[2].id, dumps[1].id, dumps[2].id}


@pytest.mark.parametrize(("count", "days"), [(0, None), (None, 0.0), (-1, None)])
def test_it_refuses_numbers_that_keep_nothing(count: int | None, days: float | None) -> None:
    with pytest.raises(InputError):
        DrRetentionPolicy(count=count, days=days)
