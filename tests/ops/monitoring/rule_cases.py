"""``promtool test rules`` fixtures: for every alert, a series that fires and one that does not.

Thresholds here are written out from the runbooks (error rate 5 %, p95 2 s, disk 75/85 %,
memory 80/90 %, connections 80/95 %, backup 25 / 26 h, WAL 5 / 15 min, certificates
30 / 7 days, smoke stale 2 h), not read from the rule code, so a rule that drifts from
them fails. "fires" sits at (for >=) or just above (for >) the threshold; "quiet" sits
just below (or exactly at, for >).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

JOB = 'job="chairside"'
EVAL = "30m"  # past every rule's `for` and its 5 m rate window
POINTS = "x40"  # 40 one-minute samples


@dataclass(frozen=True)
class Case:
    """One alert, the input that must fire it and the input that must not."""

    alert: str
    priority: str
    component: str
    fires: list[tuple[str, str]]
    quiet: list[tuple[str, str]]
    fired_labels: dict[str, str] = field(default_factory=dict)


SEVERITY = {"P1": "critical", "P2": "critical", "P3": "warning", "P4": "info"}


def _gauge(metric: str, value: float, instance: str, extra: str = "") -> tuple[str, str]:
    labels = f'{JOB},instance="{instance}"' + (f",{extra}" if extra else "")
    return (f"{metric}{{{labels}}}", f"{value:g}+0{POINTS}")


def _gauge_case(
    alert: str,
    priority: str,
    component: str,
    metric: str,
    fires: float,
    quiet: float,
    extra: str = "",
) -> Case:
    labels = {"job": "chairside", "instance": "fires"}
    if extra:
        name, _, value = extra.partition("=")
        labels[name] = value.strip('"')
    return Case(
        alert,
        priority,
        component,
        fires=[_gauge(metric, fires, "fires", extra)],
        quiet=[_gauge(metric, quiet, "quiet", extra)],
        fired_labels=labels,
    )


def _requests(ok_per_min: float, errors_per_min: float) -> list[tuple[str, str]]:
    route = 'method="POST",route="/api/v1/bookings"'
    return [
        (f'http_requests_total{{{JOB},{route},status="201"}}', f"0+{ok_per_min:g}{POINTS}"),
        (f'http_requests_total{{{JOB},{route},status="500"}}', f"0+{errors_per_min:g}{POINTS}"),
        # Failing health probes are monitoring traffic, not clients: never counted.
        (
            f'http_requests_total{{{JOB},method="GET",route="/health",status="503"}}',
            f"0+50{POINTS}",
        ),
    ]


def _latency(share_within_2s: float) -> list[tuple[str, str]]:
    series = []
    for le, count in (("1", 0.0), ("2", share_within_2s * 100), ("5", 100.0), ("+Inf", 100.0)):
        labels = f'{JOB},method="GET",route="/api/v1/shops",le="{le}"'
        name = f"http_request_duration_seconds_bucket{{{labels}}}"
        series.append((name, f"0+{count:g}{POINTS}"))
    return series


def _connections(used: int, instance: str) -> list[tuple[str, str]]:
    return [
        _gauge("chairside_postgres_connections", used, instance),
        _gauge("chairside_postgres_max_connections", 100, instance),
    ]


# time() is 0 at the start of a promtool test and 1800 at EVAL: ages are built from that.
# A firing age is an hour past its threshold, so it already held through the rule's `for`;
# a quiet one reaches the threshold exactly at EVAL and never passes it.
NOW = 1800
# The default schedule's weekly full backup is late after 7 d + its 4 h timeout, and
# critical a day later (ops/thresholds.py).
BACKUP_LATE_HOURS = 7 * 24 + 4
BACKUP_CRITICAL_HOURS = BACKUP_LATE_HOURS + 24


CASES: list[Case] = [
    Case(
        "ChairsideInstanceDown",
        "P1",
        "instance",
        fires=[(f'up{{{JOB},instance="fires"}}', f"0+0{POINTS}")],
        quiet=[(f'up{{{JOB},instance="quiet"}}', f"1+0{POINTS}")],
        fired_labels={"job": "chairside", "instance": "fires"},
    ),
    _gauge_case(
        "ChairsideDatabaseDown",
        "P1",
        "database",
        "chairside_health_status",
        2,
        1,
        'check="database"',
    ),
    Case(
        "ChairsideHighErrorRate",
        "P2",
        "http",
        fires=_requests(94.9, 5.1),
        quiet=_requests(95.1, 4.9),
        fired_labels={"job": "chairside"},
    ),
    Case(
        "ChairsideHighLatencyP95",
        "P2",
        "http",
        fires=_latency(0.94),
        quiet=_latency(0.96),
        fired_labels={"job": "chairside"},
    ),
    _gauge_case(
        "ChairsideDiskUsageHigh",
        "P3",
        "disk",
        "chairside_disk_usage_ratio",
        0.751,
        0.75,
        'path="/var"',
    ),
    _gauge_case(
        "ChairsideDiskUsageCritical",
        "P2",
        "disk",
        "chairside_disk_usage_ratio",
        0.851,
        0.85,
        'path="/var"',
    ),
    _gauge_case(
        "ChairsideMemoryUsageHigh", "P3", "memory", "chairside_memory_usage_ratio", 0.801, 0.8
    ),
    _gauge_case(
        "ChairsideMemoryUsageCritical", "P2", "memory", "chairside_memory_usage_ratio", 0.901, 0.9
    ),
    Case(
        "ChairsideDatabaseConnectionsHigh",
        "P3",
        "connections",
        fires=_connections(80, "fires"),
        quiet=_connections(79, "quiet"),
        fired_labels={"job": "chairside", "instance": "fires"},
    ),
    Case(
        "ChairsideDatabaseConnectionsCritical",
        "P2",
        "connections",
        fires=_connections(96, "fires"),
        quiet=_connections(95, "quiet"),
        fired_labels={"job": "chairside", "instance": "fires"},
    ),
    _gauge_case(
        "ChairsideRedisDegraded", "P3", "redis", "chairside_health_status", 1, 0, 'check="redis"'
    ),
    _gauge_case(
        "ChairsideBackupTooOld",
        "P3",
        "backup",
        "chairside_backup_last_success_timestamp_seconds",
        NOW - BACKUP_LATE_HOURS * 3600 - 3600,
        NOW - BACKUP_LATE_HOURS * 3600,
    ),
    _gauge_case(
        "ChairsideBackupTooOldCritical",
        "P2",
        "backup",
        "chairside_backup_last_success_timestamp_seconds",
        NOW - BACKUP_CRITICAL_HOURS * 3600 - 3600,
        NOW - BACKUP_CRITICAL_HOURS * 3600,
    ),
    _gauge_case(
        "ChairsideWalArchiveLag", "P3", "wal", "chairside_wal_archive_lag_seconds", 301, 300
    ),
    _gauge_case(
        "ChairsideWritesBlockedBySyncReplication",
        "P1",
        "wal",
        "chairside_replication_writes_blocked",
        1,
        0,
    ),
    _gauge_case(
        "ChairsideWalArchiveLagCritical",
        "P2",
        "wal",
        "chairside_wal_archive_lag_seconds",
        901,
        900,
    ),
    _gauge_case(
        "ChairsideBackupValidationFailed",
        "P3",
        "backup_validation",
        "chairside_backup_last_validation_success",
        0,
        1,
    ),
    _gauge_case("ChairsideSmokeTestFailing", "P2", "smoke", "chairside_smoke_success", 0, 1),
    _gauge_case(
        "ChairsideSmokeTestStale",
        "P4",
        "smoke",
        "chairside_smoke_last_run_timestamp_seconds",
        NOW - 2 * 3600 - 3600,
        NOW - 2 * 3600,
    ),
    _gauge_case(
        "ChairsideCertificateExpiringSoon",
        "P4",
        "certificate",
        "chairside_tls_certificate_expiry_timestamp_seconds",
        NOW + 30 * 86400 - 3600,
        NOW + 30 * 86400,
        'endpoint="api.example.com:443"',
    ),
    _gauge_case(
        "ChairsideCertificateExpiring",
        "P2",
        "certificate",
        "chairside_tls_certificate_expiry_timestamp_seconds",
        NOW + 7 * 86400 - 3600,
        NOW + 7 * 86400,
        'endpoint="api.example.com:443"',
    ),
]


def _deliveries(failed_per_min: float, sent_per_min: float) -> list[tuple[str, str]]:
    name = "chairside_reminder_deliveries_total"
    labels = f'{JOB},instance="a",channel="sms"'
    return [
        (f'{name}{{{labels},outcome="failed"}}', f"0+{failed_per_min:g}{POINTS}"),
        (f'{name}{{{labels},outcome="sent"}}', f"0+{sent_per_min:g}{POINTS}"),
        # Ambiguous attempts are neither: they do not dilute the share.
        (f'{name}{{{labels},outcome="ambiguous"}}', f"0+0{POINTS}"),
    ]


# Reminders: a channel failing over 50 % of its attempts (30 min), the oldest due
# reminder 15 / 60 min late, any ambiguous delivery in the last hour.
CASES.extend(
    [
        Case(
            "ChairsideReminderChannelFailing",
            "P3",
            "reminders",
            fires=_deliveries(1.02, 1),
            quiet=_deliveries(1, 1),
            fired_labels={"job": "chairside", "channel": "sms"},
        ),
        _gauge_case(
            "ChairsideRemindersDelayed",
            "P3",
            "reminders_delay",
            "chairside_reminder_oldest_due_age_seconds",
            15 * 60 + 1,
            15 * 60,
        ),
        _gauge_case(
            "ChairsideRemindersDelayedCritical",
            "P2",
            "reminders_delay",
            "chairside_reminder_oldest_due_age_seconds",
            60 * 60 + 1,
            60 * 60,
        ),
        Case(
            "ChairsideReminderDeliveryAmbiguous",
            "P4",
            "reminders_ambiguous",
            fires=[
                (
                    f'chairside_reminder_deliveries_total{{{JOB},instance="fires",'
                    'channel="email",outcome="ambiguous"}',
                    "0x20 1x19",
                )
            ],
            quiet=[
                (
                    f'chairside_reminder_deliveries_total{{{JOB},instance="quiet",'
                    'channel="email",outcome="ambiguous"}',
                    f"1+0{POINTS}",
                )
            ],
            fired_labels={
                "job": "chairside",
                "instance": "fires",
                "channel": "email",
                "outcome": "ambiguous",
            },
        ),
    ]
)


def promtool_tests(rule_file: str) -> dict[str, Any]:
    """A ``promtool test rules`` file: two test groups (fires, quiet) per alert."""
    tests: list[dict[str, Any]] = []
    for case in CASES:
        labels = {
            **case.fired_labels,
            "severity": SEVERITY[case.priority],
            "priority": case.priority,
            "component": case.component,
        }
        for series, expected in ((case.fires, [{"exp_labels": labels}]), (case.quiet, [])):
            tests.append(
                {
                    "interval": "1m",
                    "input_series": [{"series": s, "values": v} for s, v in series],
                    "alert_rule_test": [
                        {"eval_time": EVAL, "alertname": case.alert, "exp_alerts": expected}
                    ],
                }
            )
    return {"rule_files": [rule_file], "evaluation_interval": "30s", "tests": tests}
