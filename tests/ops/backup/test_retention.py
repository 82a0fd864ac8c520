"""Retention keeps exactly what its policy promises, and nothing while a lock is held."""

from __future__ import annotations

import json
import os
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from chairside.config import Settings, load_settings
from chairside.errors import LockHeldError
from chairside.ops.backup import access
from chairside.ops.backup.catalog import BackupCatalog
from chairside.ops.backup.locks import repository_lock
from chairside.ops.backup.manifest import BackupType, Manifest, new_backup_id
from chairside.ops.backup.retention import RetentionPolicy, prune_backups
from chairside.ops.backup.status import backup_status
from chairside.ops.backup.walarchive import WalArchive, segment_name
from chairside.ops.timeline.store import open_ops_store
from tests.ops.backup.helpers import CHAIRSIDE, fake_segment

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
SEGMENT = 1 << 20
SYSID = 7


def _settings(tmp_path: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "env": "test",
        "home": tmp_path / "home",
        "backup_repository": str(tmp_path / "repo"),
        "backup_retention_count": 2,
        "backup_retention_days": 3,
        "backup_retention_minimum": 1,
    }
    values.update(overrides)
    return load_settings(**values)


def _backup(
    catalog: BackupCatalog, tmp_path: Path, days_ago: float, segno: int, kind: BackupType = "full"
) -> str:
    start = NOW - timedelta(days=days_ago)
    backup_id = new_backup_id(kind, start)
    payload = tmp_path / "payload"
    payload.write_bytes(os.urandom(64))
    entry = catalog.store_file(backup_id, payload, name="base.tar.zst")
    wal = segment_name(1, segno, SEGMENT)
    catalog.publish(
        Manifest(
            id=backup_id,
            type=kind,
            pg_version=150000,
            system_identifier=str(SYSID),
            start_time=start,
            stop_time=start + timedelta(minutes=5),
            files=(entry,),
            timeline=1 if kind == "full" else None,
            start_wal=wal if kind == "full" else None,
            stop_wal=wal if kind == "full" else None,
            wal_segment_size=SEGMENT,
        )
    )
    return backup_id


def _archive_segments(archive: WalArchive, tmp_path: Path, count: int) -> None:
    spool = tmp_path / "spool"
    spool.mkdir(exist_ok=True)
    for segno in range(1, count + 1):
        path = spool / segment_name(1, segno, SEGMENT)
        path.write_bytes(fake_segment(SYSID, str(segno).encode(), size=4096))
        archive.push(path)
    history = spool / "00000002.history"
    history.write_text("1\t0/1000000\tno recovery target specified\n")
    archive.push(history)


@pytest.fixture
def populated(tmp_path: Path) -> tuple[Settings, dict[float, str]]:
    settings = _settings(tmp_path)
    catalog = access.catalog(settings)
    archive = access.wal_archive(settings)
    _archive_segments(archive, tmp_path, 30)
    ids = {
        days: _backup(catalog, tmp_path, days, segno)
        for days, segno in [(10, 2), (6, 6), (4, 12), (2.5, 18), (1, 24), (0.5, 28)]
    }
    return settings, ids


def test_it_keeps_the_newest_the_window_and_the_backup_the_window_starts_from(
    populated: tuple[Settings, dict[float, str]],
) -> None:
    settings, ids = populated
    result = prune_backups(settings, dry_run=False, now=NOW)
    catalog = access.catalog(settings)
    kept = [e.id for e in catalog.list_backups()]
    assert kept == [ids[4], ids[2.5], ids[1], ids[0.5]]
    assert [m.id for m in result.plan.delete] == [ids[10], ids[6]]
    assert "needed to recover to the start of the recovery window" in result.plan.keep[ids[4]]
    # WAL before the oldest kept backup's first segment is gone; the rest and history stay.
    names = [e.name for e in access.wal_archive(settings).entries()]
    assert names == [segment_name(1, n, SEGMENT) for n in range(12, 31)] + ["00000002.history"]
    [event] = open_ops_store(settings).recent(kind_prefix="backup.prune")
    assert event.status == "ok" and ids[10] in event.details["delete"]


def test_a_dry_run_reports_the_same_plan_and_changes_nothing(
    populated: tuple[Settings, dict[float, str]],
) -> None:
    settings, ids = populated
    before = sorted(p for p in Path(settings.backup_repository_url).rglob("*") if p.is_file())
    result = prune_backups(settings, dry_run=True, now=NOW)
    assert [m.id for m in result.plan.delete] == [ids[10], ids[6]]
    assert len(result.plan.wal) == 11
    after = sorted(p for p in Path(settings.backup_repository_url).rglob("*") if p.is_file())
    assert before == after


def test_the_minimum_survives_a_policy_that_would_keep_nothing(tmp_path: Path) -> None:
    policy = RetentionPolicy(count=0, window=timedelta(0), minimum=2)
    settings = _settings(tmp_path)
    catalog = access.catalog(settings)
    _archive_segments(access.wal_archive(settings), tmp_path, 3)
    ids = [_backup(catalog, tmp_path, days, 1) for days in (30, 20, 10)]
    manifests = [e.manifest for e in catalog.list_backups() if e.manifest]
    reasons = policy.reasons(manifests, NOW)
    assert [k for k, v in reasons.items() if v] == [ids[2], ids[1]]
    assert reasons[ids[0]] == []


def test_logical_backups_are_retained_on_their_own_count(tmp_path: Path) -> None:
    settings = _settings(tmp_path, backup_retention_days=0, backup_retention_count=1)
    catalog = access.catalog(settings)
    _archive_segments(access.wal_archive(settings), tmp_path, 3)
    full = _backup(catalog, tmp_path, 5, 1)
    old_dump = _backup(catalog, tmp_path, 4, 0, kind="logical")
    new_dump = _backup(catalog, tmp_path, 1, 0, kind="logical")
    prune_backups(settings, dry_run=False, now=NOW)
    assert [e.id for e in catalog.list_backups()] == [full, new_dump]
    assert old_dump not in {e.id for e in catalog.list_backups(include_incomplete=True)}


def test_it_refuses_to_prune_while_a_restore_holds_the_repository(
    populated: tuple[Settings, dict[float, str]],
) -> None:
    settings, _ids = populated
    catalog = access.catalog(settings)
    before = [e.id for e in catalog.list_backups()]
    url = catalog.repository.url
    with repository_lock(settings.home, url, mode="shared", purpose="restore full"):
        with pytest.raises(LockHeldError, match="backup-repo-"):
            prune_backups(settings, dry_run=False, now=NOW)
        assert prune_backups(settings, dry_run=True, now=NOW).lock_held
        env = {k: v for k, v in os.environ.items() if not k.startswith("CHAIRSIDE_")}
        env.update(
            CHAIRSIDE_HOME=str(settings.home),
            CHAIRSIDE_BACKUP_REPOSITORY=url,
            CHAIRSIDE_BACKUP_RETENTION_COUNT="1",
            CHAIRSIDE_BACKUP_RETENTION_DAYS="0",
        )
        refused = subprocess.run(
            [CHAIRSIDE, "backup", "prune", "--yes", "--json"],
            env=env,
            capture_output=True,
            text=True,
        )
        assert refused.returncode == 3, refused.stdout + refused.stderr
        assert json.loads(refused.stdout)["error"]["type"] == "LockHeldError"
    assert [e.id for e in catalog.list_backups()] == before
    assert len(access.wal_archive(settings).entries()) == 31


def test_prune_without_yes_off_a_terminal_is_refused(
    populated: tuple[Settings, dict[float, str]],
) -> None:
    settings, _ids = populated
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHAIRSIDE_")}
    env.update(
        CHAIRSIDE_HOME=str(settings.home),
        CHAIRSIDE_BACKUP_REPOSITORY=settings.backup_repository_url,
        CHAIRSIDE_BACKUP_RETENTION_COUNT="1",
        CHAIRSIDE_BACKUP_RETENTION_DAYS="0",
    )
    refused = subprocess.run(
        [CHAIRSIDE, "backup", "prune"],
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    assert refused.returncode == 3 and "--yes" in refused.stderr
    assert len(access.catalog(settings).list_backups()) == 6


def test_a_refused_prune_names_the_live_shared_holder_not_a_finished_prune(
    populated: tuple[Settings, dict[float, str]],
) -> None:
    settings, _ids = populated
    url = settings.backup_repository_url
    with repository_lock(settings.home, url, mode="exclusive", purpose="backup prune"):
        pass  # a prune that finished
    with repository_lock(settings.home, url, mode="shared", purpose="backup full"):
        with pytest.raises(LockHeldError) as caught:
            prune_backups(settings, dry_run=False, now=NOW)
    message = caught.value.message
    assert f"pid {os.getpid()} (backup full, shared)" in message and "prune" not in message


def test_prune_removes_unfinished_uploads_no_live_process_holds(
    populated: tuple[Settings, dict[float, str]],
) -> None:
    settings, ids = populated
    repo = Path(settings.backup_repository_url)
    killed = repo / "backups" / ids[0.5] / ".tmp-0123456789abcdef.part"
    writing = repo / "wal" / ".tmp-fedcba9876543210.part"
    for path in (killed, writing):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x" * 100)
        os.utime(path, (NOW.timestamp() - 3600, NOW.timestamp() - 3600))
    with writing.open("rb"):  # a live process still writes this one
        dry = prune_backups(settings, dry_run=True, now=NOW)
        assert [p["path"] for p in dry.to_dict()["delete_partial"]] == [str(killed)]
        prune_backups(settings, dry_run=False, now=NOW)
    assert not killed.exists() and writing.exists()


def test_list_all_and_status_show_unfinished_uploads_with_size_and_age(
    populated: tuple[Settings, dict[float, str]],
) -> None:
    settings, ids = populated
    repo = Path(settings.backup_repository_url)
    killed = repo / "backups" / ids[0.5] / ".tmp-0123456789abcdef.part"
    killed.write_bytes(b"x" * 300)
    os.utime(killed, (NOW.timestamp() - 3600, NOW.timestamp() - 3600))
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHAIRSIDE_")}
    env.update(
        CHAIRSIDE_HOME=str(settings.home),
        CHAIRSIDE_BACKUP_REPOSITORY=settings.backup_repository_url,
    )
    listed = subprocess.run(
        [CHAIRSIDE, "backup", "list", "--all", "--json"], env=env, capture_output=True, text=True
    )
    assert listed.returncode == 0, listed.stderr
    [leftover] = json.loads(listed.stdout)["leftovers"]
    assert leftover["path"] == str(killed) and leftover["size"] == 300
    assert leftover["age_seconds"] >= 3600
    status = backup_status(settings, now=NOW)
    [check] = [c for c in status.checks if c.name == "upload_leftovers"]
    assert check.details["count"] == 1 and check.details["bytes"] == 300
    assert "1 unfinished upload(s)" in check.summary and "300 bytes" in check.summary
