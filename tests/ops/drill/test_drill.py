"""`chairside drill`: a scratch restore that is checked, measured, reported and removed."""

from __future__ import annotations

import json
import subprocess
import time
from datetime import datetime
from pathlib import Path

import pytest

from chairside.ops.backup import access
from chairside.ops.backup.basebackup import take_full_backup
from chairside.ops.drill.report import load_report, render_markdown
from chairside.ops.drill.service import drill_root, run_drill
from chairside.ops.restore.targets import RecoveryTarget, TargetKind
from tests.ops.backup.helpers import CHAIRSIDE, BackupEnv

from .conftest import add_booking

pytestmark = pytest.mark.slow


def test_a_drill_restores_checks_measures_and_removes_its_scratch_cluster(
    primary: BackupEnv,
) -> None:
    take_full_backup(primary.settings)
    add_booking(primary, 2)  # after the backup: reaches the copy through archived WAL
    primary.switch_and_wait()
    time.sleep(1.1)
    add_booking(primary, 3)  # never archived: what a disaster now would lose

    report = run_drill(primary.settings)

    data = report.to_dict()
    assert report.passed, data
    assert data["smoke"]["bookings_rows"] == 2  # the archived booking is there, the last not
    assert data["smoke"]["availability_queries"] == 1
    assert {c["name"] for c in data["checks"]} >= {
        "no_overlapping_bookings",
        "availability",
        "rto",
        "rpo",
    }
    assert 0 < data["rto_seconds"] < 120
    assert data["rpo_method"] == "commit_timestamp"
    assert 1.0 <= data["rpo_seconds"] < 60  # the unarchived booking, a second later
    assert data["rpo_wal_bytes"] > 0
    assert data["cleaned_up"] is True
    assert not any(drill_root(primary.settings).iterdir())
    stored = load_report(primary.settings)
    assert stored.details["backup_id"] == report.backup_id
    assert "PASSED" in render_markdown(stored.details)
    # No targets set: measured and said so, not a bare pass.
    checks = {c["name"]: c for c in data["checks"]}
    assert checks["rto"]["status"] == "warning"
    assert "no RTO target is set (CHAIRSIDE_DRILL_RTO_TARGET_SECONDS)" in checks["rto"]["summary"]
    assert "no target set: not judged" in render_markdown(stored.details)
    assert "not judged" in stored.summary

    # A point-in-time drill: just before the second booking committed.
    [(second_commit,)] = primary.sql(
        "SELECT pg_xact_commit_timestamp(xmin) FROM bookings ORDER BY created_at OFFSET 1 LIMIT 1"
    )
    assert isinstance(second_commit, datetime)
    target = RecoveryTarget(TargetKind.TIME, time=second_commit, inclusive=False)
    pitr = run_drill(primary.settings, target=target)
    assert pitr.passed, pitr.to_dict()
    assert pitr.smoke["bookings_rows"] == 1
    assert pitr.target.startswith("time ")


def test_a_drill_over_its_rto_target_fails_and_the_report_command_says_so(
    primary: BackupEnv, tmp_path: Path
) -> None:
    take_full_backup(primary.settings)
    ran = subprocess.run(
        [CHAIRSIDE, "drill", "--json"],
        env={**primary.env(), "CHAIRSIDE_DRILL_RTO_TARGET_SECONDS": "0.01"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert ran.returncode == 1, ran.stdout + ran.stderr
    drilled = json.loads(ran.stdout)
    assert drilled["passed"] is False and drilled["error"] is None
    (rto,) = [c for c in drilled["checks"] if c["name"] == "rto"]
    assert rto["status"] == "critical" and "OVER" in rto["summary"]

    markdown = primary.cli("drill", "report", "--output", str(tmp_path / "drill.md"))
    as_json = json.loads(primary.cli("drill", "report", "--json").stdout)

    assert markdown.returncode == 0
    assert "FAILED" in (tmp_path / "drill.md").read_text()
    assert "RTO" in markdown.stdout
    assert as_json["backup_id"] == drilled["backup_id"]
    assert as_json["rto_seconds"] == drilled["rto_seconds"]
    assert as_json["rto_target_seconds"] == 0.01


def test_a_failed_drill_is_reported_and_still_removes_the_scratch_cluster(
    primary: BackupEnv,
) -> None:
    take_full_backup(primary.settings)
    add_booking(primary, 2)
    primary.switch_and_wait()
    # Damage the archive: the newest WAL segment no longer matches its checksum.
    newest = max(
        access.wal_archive(primary.settings).entries(include_history=False), key=lambda e: e.name
    )
    path = primary.repo / newest.key
    path.write_bytes(path.read_bytes()[:-8] + b"garbage!")

    result = primary.cli("drill", "--json")

    assert result.returncode == 1
    data = json.loads(result.stdout)
    assert data["passed"] is False and data["error"]
    assert data["cleaned_up"] is True
    assert not any(drill_root(primary.settings).iterdir())
    assert load_report(primary.settings).status == "failed"
