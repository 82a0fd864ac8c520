"""Backup health: the newest good backup's age and the WAL archive lag (the RPO).

Read through ``backup status`` (``ops/backup/status.py``), whose thresholds
(``CHAIRSIDE_BACKUP_WARNING_HOURS``/``CRITICAL_HOURS``, ``CHAIRSIDE_WAL_WARNING_MINUTES``/
``CRITICAL_MINUTES``) are the only ones: health, ``backup status`` and the alert rules
judge with the same numbers. A repository with no backup yet is critical.
"""

from __future__ import annotations

from chairside.checks import CheckResult, CheckStatus
from chairside.config import Settings
from chairside.errors import ChairsideError
from chairside.ops.backup.status import BackupStatusReport, backup_status

VALIDATION_PASSED = {"ok", "warning"}
VALIDATION_FAILED = {"critical", "failed"}


def check_backups(settings: Settings) -> list[CheckResult]:
    """``backup_age`` and ``wal_archive_lag``, with the raw numbers the metrics export."""
    try:
        report = backup_status(settings)
    except ChairsideError as exc:
        return [
            CheckResult(
                "backup_age",
                CheckStatus.CRITICAL,
                f"no backup yet: {exc.message}",
                details={"last_success_timestamp": 0},
            ),
            CheckResult("wal_archive_lag", CheckStatus.CRITICAL, f"no WAL archive: {exc.message}"),
        ]
    return [_age(report), _wal(report)]


def _age(report: BackupStatusReport) -> CheckResult:
    source = next(c for c in report.checks if c.name == "last_full_backup")
    entry = report.last_backups.get("full")
    stopped = entry.manifest.stop_time.timestamp() if entry and entry.manifest else 0.0
    details: dict[str, object] = {
        "last_success_timestamp": stopped,
        "repository": report.repository,
    }
    validation = report.last_validation
    if validation is not None:
        state = str(validation.get("status"))
        details["last_validation"] = {"backup_id": validation.get("backup_id"), "status": state}
        if state in VALIDATION_PASSED | VALIDATION_FAILED:
            details["last_validation_ok"] = state in VALIDATION_PASSED
    return CheckResult("backup_age", source.status, source.summary, details=details)


def _wal(report: BackupStatusReport) -> CheckResult:
    source = next(c for c in report.checks if c.name == "wal_archive")
    wal = report.wal
    lag = wal.get("rpo_seconds")
    if lag is None:
        lag = wal.get("age_seconds")
    details: dict[str, object] = {"newest": wal.get("newest"), "rpo_bytes": wal.get("rpo_bytes")}
    if lag is not None:
        details["lag_seconds"] = float(lag)
    return CheckResult("wal_archive_lag", source.status, source.summary, details=details)
