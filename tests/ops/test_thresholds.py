"""One table of thresholds (issue 15, point 2): limits derived from the schedule and
archive_timeout, and health, maintenance, alert rules and dashboards all reading it."""

from __future__ import annotations

from pathlib import Path

from chairside.config import load_settings
from chairside.ops.health.system import check_disk
from chairside.ops.maintenance.service import MaintenanceKind, run_maintenance
from chairside.ops.monitoring.dashboards import dashboards
from chairside.ops.monitoring.rules import alert_rules
from chairside.ops.thresholds import threshold_table

WEEK = 7 * 24


def test_the_backup_age_follows_the_weekly_full_backup_and_rpo_follows_archive_timeout(
    tmp_path: Path,
) -> None:
    table = threshold_table(load_settings(env="test", home=tmp_path))
    backup = table["backup_age_hours"]
    assert (backup.warning, backup.critical) == (WEEK + 4, WEEK + 4 + 24)
    assert "backup-full '0 1 * * 0'" in backup.source
    rpo = table["rpo_minutes"]
    assert (rpo.warning, rpo.critical) == (5, 15)
    slower = threshold_table(
        load_settings(env="test", home=tmp_path, wal_archive_timeout_seconds=120)
    )
    assert (slower["rpo_minutes"].warning, slower["rpo_minutes"].critical) == (10, 30)
    # Without archive_timeout the hourly `backup incremental` (timeout 20 min) bounds it.
    hourly = threshold_table(
        load_settings(env="test", home=tmp_path, wal_archive_timeout_seconds=0)
    )
    assert (hourly["rpo_minutes"].warning, hourly["rpo_minutes"].critical) == (80, 140)
    pinned = threshold_table(
        load_settings(env="test", home=tmp_path, backup_warning_hours=25, backup_critical_hours=26)
    )
    assert (pinned["backup_age_hours"].warning, pinned["backup_age_hours"].critical) == (25, 26)


def test_alert_rules_and_dashboards_draw_the_table_s_limits(tmp_path: Path) -> None:
    settings = load_settings(
        env="test", home=tmp_path, health_disk_warning_percent=70, health_disk_critical_percent=80
    )
    rules = {rule.name: rule.expr for rule in alert_rules(settings)}
    assert rules["ChairsideBackupTooOld"].endswith(f"> {(WEEK + 4) * 3600}")
    assert rules["ChairsideBackupTooOldCritical"].endswith(f"> {(WEEK + 28) * 3600}")
    assert rules["ChairsideDiskUsageHigh"].endswith("> 0.7")
    assert rules["ChairsideDiskUsageCritical"].endswith("> 0.8")
    board = dashboards(settings)["chairside-infrastructure.json"]
    (disk,) = [p for p in board["panels"] if p["title"] == "Disk usage"]
    steps = disk["fieldConfig"]["defaults"]["thresholds"]["steps"]
    assert [s["value"] for s in steps] == [None, 0.7, 0.8]


def test_maintenance_and_health_judge_the_disk_by_the_same_limits(tmp_path: Path) -> None:
    settings = load_settings(
        env="test",
        home=tmp_path / "home",
        health_disk_warning_percent=0.01,
        health_disk_critical_percent=99.99,
    )
    (tmp_path / "home").mkdir()
    health = check_disk(settings.home, warning_percent=0.01, critical_percent=99.99)
    run = run_maintenance(settings, MaintenanceKind.SYSTEM)
    (disk,) = [r for r in run.results if r.name == "disk"]
    assert health.status.value == disk.status.value == "warning"
    assert "over the 0% threshold" in disk.summary


def test_the_rpo_row_follows_the_wal_mode_and_backup_status_judges_by_it(tmp_path: Path) -> None:
    from chairside.ops.backup.status import rpo_thresholds

    def row(**overrides: object) -> tuple[float | None, float | None]:
        rpo = threshold_table(load_settings(env="test", home=tmp_path, **overrides))["rpo_minutes"]
        return rpo.warning, rpo.critical

    # Streaming promises the push interval + 1 s (2 s), sync 0: warning at twice + 30 s.
    assert row(wal_mode="stream") == (round(34 / 60, 4), 15)
    assert row(wal_mode="stream", wal_partial_push_seconds=5) == (round(42 / 60, 4), 15)
    assert row(wal_mode="sync") == (0.5, 15)
    assert row(wal_mode="archive") == (5, 15)
    pinned = row(wal_mode="sync", wal_warning_minutes=3, wal_critical_minutes=9)
    assert pinned == (3, 9)
    for mode, expected in (("archive", 60.0), ("stream", 2.0), ("sync", 0.0)):
        settings = load_settings(env="test", home=tmp_path, wal_mode=mode)
        warning, critical = row(wal_mode=mode)
        assert warning is not None and critical is not None
        assert rpo_thresholds(settings) == (expected, warning * 60, critical * 60)
