"""DR retention: the primary's rules (count, window, minimum) with the copy's own numbers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from chairside.config import load_settings
from chairside.errors import InputError
from chairside.ops.backup.catalog import BackupCatalog
from chairside.ops.backup.manifest import BackupType, Manifest, new_backup_id
from chairside.ops.backup.repository.local import LocalRepository
from chairside.ops.backup.sync.operation import prepare_sync
from chairside.ops.backup.sync.retention import DrRetentionPolicy
from chairside.ops.backup.walarchive import WalArchive, segment_name
from tests.ops.backup.helpers import fake_segment

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
MB = 1024 * 1024


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


def test_a_dr_copy_keeps_the_backup_that_reaches_the_live_timeline_as_prune_does(
    tmp_path: Path,
) -> None:
    # Timeline 2 branched from 1 at 0/580000 (a point-in-time restore to before the newer
    # backup): the newer backup reaches only the abandoned timeline 1, the older one reaches
    # the live timeline 2. Keeping "the newest 1" by age alone would drop the only backup
    # able to restore the live timeline; prune keeps it, and so must the DR copy.
    source = LocalRepository(tmp_path / "primary")
    catalog = BackupCatalog(source)
    catalog.ensure_identity(system_identifier="7", pg_version=150000)
    archive = WalArchive(source)
    spool = tmp_path / "spool"
    spool.mkdir()
    for timeline, segnos in ((1, range(3, 13)), (2, range(5, 9))):
        for segno in segnos:
            path = spool / segment_name(timeline, segno, MB)
            path.write_bytes(fake_segment(7, f"{timeline}-{segno}".encode(), size=4096))
            archive.push(path)
    history = spool / "00000002.history"
    history.write_text("1\t0/580000\tafter a point-in-time restore\n")
    archive.push(history)
    reaches_live = _full(catalog, tmp_path, hours=0, start_lsn="0/300028", stop_lsn="0/300100")
    abandoned = _full(catalog, tmp_path, hours=2, start_lsn="0/900028", stop_lsn="0/900100")
    settings = load_settings(env="test", home=tmp_path / "home", backup_repository=source.url)

    prepared = prepare_sync(settings, target_url=str(tmp_path / "dr"), keep=1)
    try:
        plan = prepared.plan
        sent = [t.id for t in plan.backups]
        assert reaches_live in sent  # the live timeline stays restorable from the copy
        assert abandoned in sent  # the abandoned branch's newest, as prune keeps it
        wal = {info.key.split("/")[-1][:24] for info in plan.wal}
        assert {segment_name(2, n, MB) for n in range(5, 9)} <= wal
        assert segment_name(1, 3, MB) in wal  # the live backup's own first segment
    finally:
        prepared.discard()


def _full(
    catalog: BackupCatalog, tmp_path: Path, *, hours: int, start_lsn: str, stop_lsn: str
) -> str:
    start = NOW - timedelta(days=1) + timedelta(hours=hours)
    backup_id = new_backup_id("full", start)
    payload = tmp_path / "payload"
    payload.write_bytes(b"base")
    entry = catalog.store_file(backup_id, payload, name="base.tar.zst")
    wal = segment_name(1, int(start_lsn.split("/")[1], 16) // MB, MB)
    catalog.publish(
        Manifest(
            id=backup_id,
            type="full",
            pg_version=150000,
            system_identifier="7",
            start_time=start,
            stop_time=start + timedelta(minutes=1),
            files=(entry,),
            timeline=1,
            start_lsn=start_lsn,
            stop_lsn=stop_lsn,
            start_wal=wal,
            stop_wal=wal,
            wal_segment_size=MB,
        )  # fmt: skip
    )
    return backup_id
