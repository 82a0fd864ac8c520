"""`backup sync` to a DR repository on a real S3 server (SeaweedFS).

What an operator relies on: only complete backups arrive, with the WAL they need; a
second run sends nothing new; an outage mid-sync fails clearly and the next run sends
only what is missing; damage is found and mended (target) or refused (source); a DR
repository of another cluster is refused; the DR copy keeps its own retention.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from chairside.config import Settings
from chairside.ops.backup.catalog import BackupCatalog
from chairside.ops.backup.repository.local import LocalRepository
from chairside.ops.backup.repository.s3 import S3Repository
from chairside.ops.backup.sync.operation import execute_sync, prepare_sync
from chairside.ops.backup.sync.service import SyncInterruptedError, SyncRefusedError
from chairside.ops.timeline.store import open_ops_store
from tests.support.seaweed import SeaweedServer

from .conftest import SourceBuilder


def keys(repository: S3Repository | LocalRepository, prefix: str = "") -> dict[str, int]:
    return {info.key: info.size for info in repository.list(prefix)}


def test_it_copies_complete_backups_with_their_wal_and_never_an_incomplete_one(
    source: SourceBuilder,
    sync_settings: Settings,
    dr_url: str,
    open_dr: Callable[[str], S3Repository],
) -> None:
    source.wal(2)
    first = source.backup()
    source.wal(3)
    second = source.backup()
    unfinished = source.backup(complete=False)

    report = execute_sync(sync_settings, prepare_sync(sync_settings, target_url=dr_url))

    dr = open_dr(dr_url)
    assert report.ok
    assert report.backups_sent == [first, second]
    assert [e.id for e in BackupCatalog(dr).list_backups()] == [first, second]
    assert not [k for k in keys(dr) if unfinished in k]
    # WAL from the oldest backup's first segment on; the two older segments are not needed.
    start = source_start(source, first)
    needed = {k for k in keys(source.repository, "wal/") if k.split("/")[-1][:24] >= start}
    assert set(keys(dr, "wal/")) == needed
    assert len(needed) == len(keys(source.repository, "wal/")) - 2
    assert keys(dr, "repository.json") == keys(source.repository, "repository.json")
    events = open_ops_store(sync_settings).recent(kind_prefix="backup.sync")
    assert events[0].status == "ok" and events[0].details["target"] == dr_url


def source_start(source: SourceBuilder, backup_id: str) -> str:
    start_wal = BackupCatalog(source.repository).read_manifest(backup_id).start_wal
    assert start_wal is not None
    return start_wal


def test_a_second_incremental_sync_sends_only_what_is_new(
    source: SourceBuilder, sync_settings: Settings, dr_url: str
) -> None:
    source.backup()
    execute_sync(sync_settings, prepare_sync(sync_settings, target_url=dr_url))

    again = execute_sync(sync_settings, prepare_sync(sync_settings, target_url=dr_url))
    assert again.objects_sent == 0

    source.wal(2)
    newest = source.backup()
    last = execute_sync(sync_settings, prepare_sync(sync_settings, target_url=dr_url))
    assert last.backups_sent == [newest]
    assert last.wal_sent == 3
    assert last.objects_sent == 3 + 4  # WAL, then two files, manifest, marker


@pytest.mark.slow
def test_an_s3_outage_mid_sync_fails_clearly_and_the_next_run_sends_only_what_is_missing(
    source: SourceBuilder,
    sync_settings: Settings,
    dr_url: str,
    seaweed: SeaweedServer,
    open_dr: Callable[[str], S3Repository],
) -> None:
    backups = [source.backup(size=300_000) for _ in range(3)]
    prepared = prepare_sync(sync_settings, target_url=dr_url)
    sent: list[int] = []

    def stop_the_server_after_the_first_backup_file(size: int) -> None:
        sent.append(size)
        if size >= 300_000 and seaweed.process is not None:
            seaweed.stop()

    try:
        with pytest.raises(SyncInterruptedError) as caught:
            execute_sync(
                sync_settings, prepared, progress=stop_the_server_after_the_first_backup_file
            )
    finally:
        seaweed.start()

    assert dr_url in caught.value.message
    assert "run it again" in caught.value.message
    dr = open_dr(dr_url)
    assert BackupCatalog(dr).list_backups() == []  # nothing looks complete
    already_there = keys(dr)
    failed = open_ops_store(sync_settings).recent(kind_prefix="backup.sync")[0]
    assert failed.status == "failed"

    resumed = execute_sync(sync_settings, prepare_sync(sync_settings, target_url=dr_url))

    assert resumed.ok and resumed.backups_sent == backups
    assert [e.id for e in BackupCatalog(dr).list_backups()] == backups
    after = keys(dr)
    resent = {k for k in already_there if k in after}
    # Only what was missing went over the wire the second time.
    assert resumed.objects_sent == len(after) - len(resent)
    assert all(after[k] == already_there[k] for k in resent)


def test_a_sync_killed_between_manifest_and_marker_resends_only_the_marker(
    source: SourceBuilder,
    sync_settings: Settings,
    dr_url: str,
    open_dr: Callable[[str], S3Repository],
) -> None:
    backup = source.backup()
    execute_sync(sync_settings, prepare_sync(sync_settings, target_url=dr_url))
    dr = open_dr(dr_url)
    dr.delete(f"backups/{backup}/COMPLETE")  # exactly where a kill -9 would leave it
    assert BackupCatalog(dr).list_backups() == []

    resumed = execute_sync(sync_settings, prepare_sync(sync_settings, target_url=dr_url))

    assert resumed.backups_sent == [backup]
    assert resumed.objects_sent == 1
    assert [e.id for e in BackupCatalog(dr).list_backups()] == [backup]


def test_it_refuses_a_dr_repository_of_another_cluster(
    source: SourceBuilder, sync_settings: Settings, dr_url: str, tmp_path: Path
) -> None:
    source.backup()
    other = SourceBuilder(
        S3Repository.from_url(dr_url, sync_settings),
        tmp_path / "work",
        system_identifier="7999999999999999999",
    )
    other.backup()

    with pytest.raises(SyncRefusedError) as caught:
        prepare_sync(sync_settings, target_url=dr_url)

    assert "7999999999999999999" in caught.value.message
    assert source.system_identifier in caught.value.message
    assert [e.id for e in BackupCatalog(other.repository).list_backups()] != []


def test_a_full_sync_finds_and_mends_an_object_damaged_on_the_target(
    source: SourceBuilder,
    sync_settings: Settings,
    dr_url: str,
    seaweed: SeaweedServer,
) -> None:
    backup_id = source.backup()
    execute_sync(sync_settings, prepare_sync(sync_settings, target_url=dr_url))
    bucket, prefix = dr_url.removeprefix("s3://").split("/", 1)
    damaged_key = f"{prefix}/backups/{backup_id}/base.tar.zst"
    content = bytearray(seaweed.client().get_object(Bucket=bucket, Key=damaged_key)["Body"].read())
    content[1000] ^= 0xFF
    seaweed.client().put_object(Bucket=bucket, Key=damaged_key, Body=bytes(content))

    incremental = prepare_sync(sync_settings, target_url=dr_url)
    assert incremental.plan.backups == []  # incremental trusts what is complete
    incremental.discard()
    full = prepare_sync(sync_settings, target_url=dr_url, mode="full")
    assert [(b.id, b.action, b.files) for b in full.plan.backups] == [
        (backup_id, "repair", ["base.tar.zst"])
    ]
    report = execute_sync(sync_settings, full)

    assert report.backups_sent == [backup_id]
    mended = seaweed.client().get_object(Bucket=bucket, Key=damaged_key)["Body"].read()
    assert mended == (source.repository.root / f"backups/{backup_id}/base.tar.zst").read_bytes()  # type: ignore[attr-defined]


def test_damage_in_the_source_is_named_and_never_copied(
    source: SourceBuilder,
    sync_settings: Settings,
    dr_url: str,
    open_dr: Callable[[str], S3Repository],
) -> None:
    good = source.backup()
    bad = source.backup()
    path = Path(source.repository.url) / "backups" / bad / "base.tar.zst"
    data = bytearray(path.read_bytes())
    data[10] ^= 0x01
    path.write_bytes(bytes(data))

    report = execute_sync(sync_settings, prepare_sync(sync_settings, target_url=dr_url))

    assert not report.ok
    assert report.backups_sent == [good]
    assert report.failed[0]["backup"] == bad
    assert "base.tar.zst" in report.failed[0]["error"] and "damaged" in report.failed[0]["error"]
    assert [e.id for e in BackupCatalog(open_dr(dr_url)).list_backups()] == [good]


def test_the_dr_copy_keeps_its_own_retention(
    source: SourceBuilder,
    sync_settings: Settings,
    dr_url: str,
    open_dr: Callable[[str], S3Repository],
) -> None:
    old, middle = source.backup(), source.backup()

    first = execute_sync(sync_settings, prepare_sync(sync_settings, target_url=dr_url, keep=1))
    assert first.backups_sent == [middle]  # the older one is never sent

    newest = source.backup()
    prepared = prepare_sync(sync_settings, target_url=dr_url, keep=1)
    assert prepared.plan.prune_backups == [middle]
    execute_sync(sync_settings, prepared)

    dr = open_dr(dr_url)
    assert [e.id for e in BackupCatalog(dr).list_backups()] == [newest]
    oldest_needed = source_start(source, newest)
    assert all(k.split("/")[-1][:24] >= oldest_needed for k in keys(dr, "wal/0"))
    assert [e.id for e in BackupCatalog(source.repository).list_backups()] == [
        old,
        middle,
        newest,
    ]


def test_a_damaged_wal_segment_is_named_and_its_backup_never_completes_on_the_target(
    source: SourceBuilder,
    sync_settings: Settings,
    dr_url: str,
    open_dr: Callable[[str], S3Repository],
) -> None:
    backup_id = source.backup()
    later = source.wal(3)
    start = source_start(source, backup_id)
    (damaged,) = [k for k in keys(source.repository, "wal/") if f"/{start}-" in k]
    path = Path(source.repository.url) / damaged
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))

    report = execute_sync(sync_settings, prepare_sync(sync_settings, target_url=dr_url))

    assert not report.ok
    failures = {f.get("object") or f.get("backup"): f["error"] for f in report.failed}
    assert "damaged" in failures[damaged]
    assert start in failures[backup_id]  # needs the damaged segment: not marked complete
    assert report.wal_sent == len(later)  # the intact segments still went over
    dr = open_dr(dr_url)
    assert BackupCatalog(dr).list_backups() == []
    assert damaged not in keys(dr, "wal/")


def test_a_local_dr_copy_keeps_each_segments_archive_time_so_its_window_ends_there(
    source: SourceBuilder, sync_settings: Settings, tmp_path: Path
) -> None:
    import os

    from chairside.ops.backup.walarchive import WalArchive

    source.wal(1)
    source.backup()
    source.wal(2)
    archived_at = 1_700_000_000.0  # long before the sync runs
    for info in source.repository.list("wal/"):
        os.utime(Path(source.repository.root) / info.key, (archived_at, archived_at))  # type: ignore[attr-defined]
    target = str(tmp_path / "dr-local")
    report = execute_sync(sync_settings, prepare_sync(sync_settings, target_url=target))
    assert report.ok
    copied = WalArchive(LocalRepository(Path(target))).entries()
    assert copied and all(
        e.modified is not None and e.modified.timestamp() == archived_at for e in copied
    )


def test_an_s3_dr_copys_window_ends_at_the_primarys_archive_time_not_the_sync_time(
    source: SourceBuilder,
    sync_settings: Settings,
    dr_url: str,
    open_dr: Callable[[str], S3Repository],
) -> None:
    import os
    from datetime import timedelta

    from chairside.ops.backup.walarchive import WalArchive
    from chairside.ops.backup.windows import timeline_windows
    from chairside.ops.restore.reach import view_for

    source.wal(1)
    backup_id = source.backup()
    source.wal(2)
    archived_at = source.clock + timedelta(hours=2)  # after the backup, long before the sync
    for info in source.repository.list("wal/"):
        stamp = archived_at.timestamp()
        os.utime(Path(source.repository.root) / info.key, (stamp, stamp))  # type: ignore[attr-defined]
    report = execute_sync(sync_settings, prepare_sync(sync_settings, target_url=dr_url))
    assert report.ok

    dr = open_dr(dr_url)
    fulls = [e.manifest for e in BackupCatalog(dr).list_backups() if e.manifest]
    [window] = timeline_windows(view_for(WalArchive(dr), fulls), fulls, live=None)
    assert window.from_backup == backup_id
    assert window.latest == archived_at
