"""`backup incremental` confirms WAL reached the repository; `backup status` judges it."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from chairside.checks import CheckStatus
from chairside.errors import ConfigError
from chairside.ops.backup import access
from chairside.ops.backup.basebackup import take_full_backup
from chairside.ops.backup.incremental import take_incremental_backup
from chairside.ops.backup.status import backup_status
from tests.ops.backup.helpers import backup_env, fake_segment, make_settings
from tests.support.servers import ClusterFactory, remove_tree, scratch_dir

pytestmark = pytest.mark.slow


def test_incremental_confirms_the_switched_segment_and_status_reports_the_window(
    cluster_factory: ClusterFactory,
) -> None:
    with backup_env(cluster_factory) as env:
        # Before any full backup: WAL is archived, but there is nothing to restore from.
        env.switch_and_wait()
        early = env.cli("backup", "status", "--json")
        assert early.returncode == 2
        assert json.loads(early.stdout)["last_backup"] is None

        full = take_full_backup(env.settings)
        env.sql("CREATE TABLE marker AS SELECT 1 AS id")
        result = env.cli("backup", "incremental", "--json")
        assert result.returncode == 0, result.stderr
        report = json.loads(result.stdout)
        assert access.wal_archive(env.settings).find(report["segment"])
        assert report["rpo_seconds"] == 0

        status = env.cli("backup", "status", "--json")
        assert status.returncode == 0, status.stdout
        data = json.loads(status.stdout)
        assert data["status"] == "ok"
        assert data["last_backup"]["id"] == full.manifest.id
        assert data["last_backup"]["age_seconds"] < 120
        assert data["wal"]["newest"] >= report["segment"]
        # Background WAL (a standby snapshot, autovacuum's analyze of the new table) may
        # follow the switch before status runs on a busy machine; it is counted, and the
        # RPO stays far under the warning.
        assert data["wal"]["pending_bytes"] is not None, data["wal"]
        assert data["wal"]["rpo_seconds"] < 60, data["wal"]
        [window] = data["pitr"]
        assert window["timeline"] == 1 and window["from_backup"] == full.manifest.id
        assert window["earliest"] == full.manifest.stop_time.isoformat()
        assert window["missing_wal_count"] == 0
        assert data["last_validation"] is None

        # Full backups are weekly: two days later the backup is not late (issue 15: the
        # 26 h limit made `backup status` critical five days a week); a week plus the
        # job's grace later it is, and a day after that it is critical.
        def age_status(hours: float) -> CheckStatus:
            later = backup_status(env.settings, now=datetime.now(UTC) + timedelta(hours=hours))
            return {c.name: c.status for c in later.checks}["last_full_backup"]

        assert age_status(48) is CheckStatus.OK
        assert age_status(7 * 24 + 5) is CheckStatus.WARNING
        assert age_status(8 * 24 + 5) is CheckStatus.CRITICAL

        # A validation result stored with the backup shows up as the last validation.
        access.catalog(env.settings).write_validation(
            full.manifest.id, {"status": "ok", "finished_at": datetime.now(UTC).isoformat()}
        )
        validated = backup_status(env.settings)
        assert validated.last_validation is not None
        assert validated.last_validation["backup_id"] == full.manifest.id


def test_status_is_critical_when_a_segment_is_missing_from_the_chain(
    cluster_factory: ClusterFactory,
) -> None:
    with backup_env(cluster_factory) as env:
        take_full_backup(env.settings)
        env.sql("CREATE TABLE t AS SELECT 1 AS id")
        hole = env.switch_and_wait()
        env.sql("INSERT INTO t VALUES (2)")
        env.switch_and_wait()
        [entry] = access.wal_archive(env.settings).find(hole)
        (env.repo / entry.key).unlink()
        report = backup_status(env.settings)
        assert report.status is CheckStatus.CRITICAL
        assert hole in report.pitr[-1].missing


def test_incremental_refuses_when_nothing_archives_wal(cluster_factory: ClusterFactory) -> None:
    root = scratch_dir()
    cluster = cluster_factory.make()
    try:
        settings = make_settings(root, cluster)
        with pytest.raises(ConfigError, match="archive_mode=off"):
            take_incremental_backup(settings)
    finally:
        cluster.stop(mode="immediate")
        remove_tree(root)


def test_status_of_a_repository_alone_judges_by_the_archive_and_creates_nothing(
    tmp_path: Path,
) -> None:
    from chairside.config import load_settings

    settings = load_settings(
        env="test", home=tmp_path / "home", backup_repository=str(tmp_path / "repo")
    )
    spool = tmp_path / "spool"
    spool.mkdir()
    segment = spool / "000000010000000000000003"
    segment.write_bytes(fake_segment(7, b"x"))
    access.wal_archive(settings).push(segment)
    report = backup_status(settings, now=datetime.now(UTC) + timedelta(minutes=20))
    data = report.to_dict()
    assert data["wal"]["pending_bytes"] is None
    assert data["wal"]["rpo_seconds"] > 15 * 60  # unreachable server: age is the RPO
    assert {c.name: c.status for c in report.checks}["wal_archive"] is CheckStatus.CRITICAL
    home = tmp_path / "home"
    assert not (home / "runtime.json").exists() and not (home / "secrets").exists()


def test_a_failing_archive_command_is_named_by_status_and_incremental(
    cluster_factory: ClusterFactory,
) -> None:
    with backup_env(cluster_factory) as env:
        take_full_backup(env.settings)
        [(current,)] = env.sql("SELECT pg_walfile_name(pg_current_wal_lsn())")
        name = str(current)
        # Another file already sits under the name the archiver will push next.
        impostor = env.root / name
        impostor.write_bytes(b"not this cluster's segment")
        access.wal_archive(env.settings).push(impostor)
        env.sql("CREATE TABLE t AS SELECT 1 AS id")
        env.sql("SELECT pg_switch_wal()")
        deadline = time.monotonic() + 30
        while not env.sql("SELECT failed_count FROM pg_stat_archiver")[0][0]:
            assert time.monotonic() < deadline, "archive_command never failed"
            time.sleep(0.1)
        report = backup_status(env.settings)
        wal_check = next(c for c in report.checks if c.name == "wal_archive")
        assert wal_check.status in (CheckStatus.WARNING, CheckStatus.CRITICAL)
        assert name in wal_check.summary and report.wal["archiver"]["failing"]

        result = env.cli("backup", "incremental", "--timeout", "2", "--json")
        assert result.returncode == 1
        message = json.loads(result.stdout)["error"]["message"]
        assert name in message and "archive_command has failed" in message
