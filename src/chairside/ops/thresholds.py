"""The one table of thresholds: what health, maintenance, alert rules and dashboards judge by.

Every limit an ops check compares against is read from :func:`threshold_table`, so
``chairside health``, ``maintenance system``, ``backup status``, the rendered Prometheus
rules and the Grafana dashboards can never disagree. Most rows are settings; two are
derived from the schedule unless set explicitly:

- **backup age**: a full backup is late (warning) after the ``backup-full`` job's longest
  gap between slots plus its timeout (the grace a running backup has to finish), and
  critical a day after that: with the weekly default, 7 d + 4 h and 8 d + 4 h.
- **RPO** (what would be lost now: how long ago the server passed the last shipped
  LSN), following the WAL mode's promise (:func:`expected_rpo_seconds`): when archiving,
  ``archive_timeout`` (``CHAIRSIDE_WAL_ARCHIVE_TIMEOUT_SECONDS``) closes a segment at
  least that often, so warning at 5x and critical at 15x it (5 and 15 min at 60 s); with
  archive_timeout 0 it is the ``backup-incremental`` job's cadence plus its timeout
  (warning) and one cadence more (critical). When streaming (the partial push interval
  plus 1 s) and in sync mode (0), the promise is tighter: warning above twice it plus
  30 s (never later than the archiving warning); critical as when archiving, since the
  archive stays the backstop.

``CHAIRSIDE_BACKUP_WARNING_HOURS``/``CRITICAL_HOURS`` and ``CHAIRSIDE_WAL_WARNING_MINUTES``/
``CRITICAL_MINUTES`` still override the derived values.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache

from croniter import croniter

from chairside.config import Settings
from chairside.ops.schedule.jobs import Job, default_jobs

# From a fixed date, so a table never changes with the day it is rendered on.
_CADENCE_EPOCH = datetime(2024, 1, 1, tzinfo=UTC)
_CADENCE_SLOTS = 64
RPO_WARNING_TIMEOUTS = 5
RPO_CRITICAL_TIMEOUTS = 15
BACKUP_CRITICAL_AFTER_LATE = timedelta(days=1)


@dataclass(frozen=True)
class Threshold:
    """One row: a warning and a critical limit, their unit, and where they came from."""

    name: str
    warning: float | None
    critical: float | None
    unit: str
    source: str
    # True: the value is bad when *below* the limit (days of certificate left).
    below: bool = False

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def longest_gap(job: Job) -> timedelta:
    """The longest time between two consecutive slots of ``job``'s cron cadence."""
    return _longest_gap(job.cadence)


@lru_cache(maxsize=64)
def _longest_gap(cadence: str) -> timedelta:
    it = croniter(cadence, _CADENCE_EPOCH)
    slots: list[datetime] = [it.get_next(datetime) for _ in range(_CADENCE_SLOTS)]
    return max(b - a for a, b in zip(slots, slots[1:], strict=False))


def _job(settings: Settings, name: str) -> Job | None:
    return next((j for j in default_jobs(settings) if j.name == name), None)


def backup_age_threshold(settings: Settings) -> Threshold:
    """Hours since the newest good full backup: from the schedule unless set."""
    if settings.backup_warning_hours is not None and settings.backup_critical_hours is not None:
        return Threshold(
            "backup_age_hours",
            settings.backup_warning_hours,
            settings.backup_critical_hours,
            "h",
            "settings CHAIRSIDE_BACKUP_WARNING_HOURS / CHAIRSIDE_BACKUP_CRITICAL_HOURS",
        )
    job = _job(settings, "backup-full")
    assert job is not None  # the default table always has it
    gap = longest_gap(job)
    late = gap + timedelta(seconds=job.timeout_seconds)
    warning = settings.backup_warning_hours or late / timedelta(hours=1)
    critical = settings.backup_critical_hours or (late + BACKUP_CRITICAL_AFTER_LATE) / timedelta(
        hours=1
    )
    return Threshold(
        "backup_age_hours",
        round(warning, 2),
        round(critical, 2),
        "h",
        f"schedule: backup-full '{job.cadence}' every {gap / timedelta(hours=1):g} h at most,"
        f" + {job.timeout_seconds / 3600:g} h grace (its timeout); critical a day later",
    )


def expected_rpo_seconds(settings: Settings) -> float | None:
    """What the WAL mode promises to lose at most (None: archiving without archive_timeout).

    ``archive_timeout`` when archiving, the partial push interval plus the receiver's
    1 s status interval when streaming, 0 in sync mode.
    """
    if settings.wal_mode == "sync":
        return 0.0
    if settings.wal_mode == "stream":
        return settings.wal_partial_push_seconds + 1.0
    timeout = settings.wal_archive_timeout_seconds
    return float(timeout) if timeout > 0 else None


def rpo_threshold(settings: Settings) -> Threshold:
    """Minutes of RPO (what would be lost now): from the WAL mode and archive_timeout."""
    if settings.wal_warning_minutes is not None and settings.wal_critical_minutes is not None:
        return Threshold(
            "rpo_minutes",
            settings.wal_warning_minutes,
            settings.wal_critical_minutes,
            "min",
            "settings CHAIRSIDE_WAL_WARNING_MINUTES / CHAIRSIDE_WAL_CRITICAL_MINUTES",
        )
    timeout = settings.wal_archive_timeout_seconds
    job = _job(settings, "backup-incremental")
    if timeout > 0 or job is None:
        seconds = timeout or 60
        warning = RPO_WARNING_TIMEOUTS * seconds / 60
        critical = RPO_CRITICAL_TIMEOUTS * seconds / 60
        source = (
            f"archive_timeout {seconds} s: warning {RPO_WARNING_TIMEOUTS}x,"
            f" critical {RPO_CRITICAL_TIMEOUTS}x"
        )
    else:
        gap = longest_gap(job) / timedelta(minutes=1)
        warning = gap + job.timeout_seconds / 60
        critical = warning + gap
        source = (
            f"archive_timeout off: backup-incremental '{job.cadence}' ({gap:g} min)"
            f" + {job.timeout_seconds / 60:g} min grace; critical one cadence later"
        )
    expected = expected_rpo_seconds(settings)
    if settings.wal_mode in ("stream", "sync") and expected is not None:
        tighter = (2 * expected + 30) / 60
        if tighter < warning:
            warning = tighter
            source = (
                f"{settings.wal_mode} mode promises {expected:g} s: warning above twice it"
                f" + 30 s; critical as when archiving ({source})"
            )
    return Threshold(
        "rpo_minutes",
        settings.wal_warning_minutes or round(warning, 4),
        settings.wal_critical_minutes or round(critical, 2),
        "min",
        source,
    )


def threshold_table(settings: Settings) -> dict[str, Threshold]:
    """Every threshold, by name (see docs/monitoring.md for the table)."""
    s = settings
    rows = [
        Threshold(
            "disk_percent",
            s.health_disk_warning_percent,
            s.health_disk_critical_percent,
            "%",
            "settings CHAIRSIDE_HEALTH_DISK_WARNING_PERCENT / _CRITICAL_PERCENT",
        ),
        Threshold(
            "memory_percent",
            s.health_memory_warning_percent,
            s.health_memory_critical_percent,
            "%",
            "settings CHAIRSIDE_HEALTH_MEMORY_WARNING_PERCENT / _CRITICAL_PERCENT",
        ),
        Threshold(
            "connections_percent",
            s.health_connections_warning_percent,
            s.health_connections_critical_percent,
            "%",
            "settings CHAIRSIDE_HEALTH_CONNECTIONS_WARNING_PERCENT / _CRITICAL_PERCENT",
        ),
        Threshold(
            "error_rate_percent",
            None,
            s.health_error_rate_percent,
            "%",
            "setting CHAIRSIDE_HEALTH_ERROR_RATE_PERCENT",
        ),
        Threshold(
            "latency_p95_seconds",
            None,
            s.health_p95_seconds,
            "s",
            "setting CHAIRSIDE_HEALTH_P95_SECONDS",
        ),
        Threshold(
            "database_latency_ms",
            s.health_db_latency_warning_ms,
            None,
            "ms",
            "setting CHAIRSIDE_HEALTH_DB_LATENCY_WARNING_MS (warning only)",
        ),
        Threshold(
            "tls_days_left",
            s.health_tls_warning_days,
            s.health_tls_critical_days,
            "days",
            "settings CHAIRSIDE_HEALTH_TLS_WARNING_DAYS / _CRITICAL_DAYS",
            below=True,
        ),
        backup_age_threshold(s),
        rpo_threshold(s),
        Threshold(
            "dr_lag_minutes",
            s.dr_lag_warning_minutes,
            s.dr_lag_critical_minutes,
            "min",
            "settings CHAIRSIDE_DR_LAG_WARNING_MINUTES / _CRITICAL_MINUTES",
        ),
        Threshold(
            "reminder_failure_percent",
            s.reminder_failure_warning_percent,
            None,
            "%",
            "setting CHAIRSIDE_REMINDER_FAILURE_WARNING_PERCENT (one channel's failed "
            "attempts over 30 min)",
        ),
        Threshold(
            "reminder_delay_minutes",
            s.reminder_delay_warning_minutes,
            s.reminder_delay_critical_minutes,
            "min",
            "settings CHAIRSIDE_REMINDER_DELAY_WARNING_MINUTES / _CRITICAL_MINUTES (how "
            "late the oldest due reminder is)",
        ),
    ]
    return {row.name: row for row in rows}
