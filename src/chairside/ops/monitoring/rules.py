"""Prometheus alert rules, built from the same settings as the health checks.

Every alert carries ``priority``, the one severity scale of incidents and alerts
(``ops/incidents/severity.py``, docs/incidents.md), and ``severity``, what Alertmanager
routes on, always paired the same way::

    P1  critical  complete outage: page, respond within 5 minutes
    P2  critical  major degradation: page, respond within 15 minutes
    P3  warning   minor issue: the on-call chat, within 1 hour
    P4  info      not user-facing: a ticket, within 4 hours (next business day)

``component`` groups the warning and critical variants of one measurement, so the
critical one inhibits the warning (see ``alertmanager.py``). The tests prove every rule
fires at its threshold and not below, and that every metric a rule reads is exported.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from chairside.config import Settings
from chairside.ops.incidents.severity import LEVELS
from chairside.ops.thresholds import threshold_table

Priority = Literal["P1", "P2", "P3", "P4"]
SEVERITY: dict[str, str] = {code: level.alert_severity for code, level in LEVELS.items()}
# Monitoring traffic is not client traffic (same exclusion as the health checks).
# Client traffic: not monitoring, not the 503s a maintenance or read-only mode answers.
CLIENT_ROUTES = 'route!~"/health.*|/metrics|\\\\(mode\\\\)"'


@dataclass(frozen=True)
class AlertRule:
    """One alert: its PromQL, how long it must hold, and who hears about it."""

    name: str
    expr: str
    for_: str
    priority: Priority
    component: str
    summary: str
    description: str

    @property
    def severity(self) -> str:
        return SEVERITY[self.priority]

    def to_rule(self) -> dict[str, Any]:
        rule: dict[str, Any] = {"alert": self.name, "expr": self.expr}
        if self.for_ != "0m":
            rule["for"] = self.for_
        rule["labels"] = {
            "severity": self.severity,
            "priority": self.priority,
            "component": self.component,
        }
        rule["annotations"] = {
            "summary": self.summary,
            "description": self.description,
            "runbook": f"docs/monitoring.md#{self.name.lower()}",
        }
        return rule


def alert_rules(settings: Settings) -> list[AlertRule]:
    """Every Chairside alert, thresholds taken from ``settings``."""
    s = settings
    job = f'job="{s.metrics_job}"'
    table = threshold_table(s)
    backup_age, rpo = table["backup_age_hours"], table["rpo_minutes"]
    disk, memory = table["disk_percent"], table["memory_percent"]
    assert backup_age.warning and backup_age.critical and rpo.warning and rpo.critical
    assert disk.warning and disk.critical and memory.warning and memory.critical
    error_ratio = s.health_error_rate_percent / 100
    # The window of the health checks' error rate and p95 (traffic.py), so that the app
    # and Prometheus judge the same requests.
    window = promql_duration(s.health_window_seconds)
    reminder_failure, reminder_delay = (
        table["reminder_failure_percent"],
        table["reminder_delay_minutes"],
    )
    assert reminder_failure.warning and reminder_delay.warning and reminder_delay.critical
    deliveries = "chairside_reminder_deliveries_total"
    return [
        AlertRule(
            "ChairsideInstanceDown",
            f"up{{{job}}} == 0",
            "1m",
            "P1",
            "instance",
            "Chairside instance {{ $labels.instance }} is down",
            "Prometheus has not been able to scrape {{ $labels.instance }} for a minute.",
        ),
        AlertRule(
            "ChairsideDatabaseDown",
            f'chairside_health_status{{{job},check="database"}} == 2',
            "1m",
            "P1",
            "database",
            "The application database does not answer",
            "The database health check has been critical for a minute: no booking can be made.",
        ),
        AlertRule(
            "ChairsideHighErrorRate",
            "sum by (job) (rate(http_requests_total"
            f'{{{job},status=~"5..",{CLIENT_ROUTES}}}[{window}]))'
            f" / sum by (job) (rate(http_requests_total{{{job},{CLIENT_ROUTES}}}[{window}]))"
            f" > {error_ratio:g}",
            "5m",
            "P2",
            "http",
            "More than {threshold}% of requests fail".replace(
                "{threshold}", f"{s.health_error_rate_percent:g}"
            ),
            "{{ $value | humanizePercentage }} of client requests answered 5xx over 5 minutes.",
        ),
        AlertRule(
            "ChairsideHighLatencyP95",
            "histogram_quantile(0.95, sum by (job, le) (rate("
            f"http_request_duration_seconds_bucket{{{job},{CLIENT_ROUTES}}}[{window}])))"
            f" > {s.health_p95_seconds:g}",
            "5m",
            "P2",
            "http",
            f"p95 response time above {s.health_p95_seconds:g} s",
            "The 95th percentile of client request time is {{ $value | humanizeDuration }}.",
        ),
        *_pair(
            "ChairsideDiskUsage",
            f"chairside_disk_usage_ratio{{{job}}}",
            warning=disk.warning / 100,
            critical=disk.critical / 100,
            component="disk",
            what="Disk usage of {{ $labels.path }}",
        ),
        *_pair(
            "ChairsideMemoryUsage",
            f"chairside_memory_usage_ratio{{{job}}}",
            warning=memory.warning / 100,
            critical=memory.critical / 100,
            component="memory",
            what="Memory usage",
        ),
        *_pair(
            "ChairsideDatabaseConnections",
            f"chairside_postgres_connections{{{job}}}"
            f" / chairside_postgres_max_connections{{{job}}}",
            warning=s.health_connections_warning_percent / 100,
            critical=s.health_connections_critical_percent / 100,
            component="connections",
            what="Database connections in use",
            warning_op=">=",
        ),
        AlertRule(
            "ChairsideRedisDegraded",
            f'chairside_health_status{{{job},check="redis"}} >= 1',
            "5m",
            "P3",
            "redis",
            "Redis is unreachable: running degraded",
            "Rate limits and caches fall back to PostgreSQL; bookings still work.",
        ),
        AlertRule(
            "ChairsideBackupTooOld",
            f"time() - chairside_backup_last_success_timestamp_seconds{{{job}}}"
            f" > {backup_age.warning * 3600:g}",
            "15m",
            "P3",
            "backup",
            f"No good base backup for {backup_age.warning:g} hours",
            "The newest complete backup is {{ $value | humanizeDuration }} old.",
        ),
        AlertRule(
            "ChairsideBackupTooOldCritical",
            f"time() - chairside_backup_last_success_timestamp_seconds{{{job}}}"
            f" > {backup_age.critical * 3600:g}",
            "15m",
            "P2",
            "backup",
            f"No good base backup for {backup_age.critical:g} hours",
            "The newest complete backup is {{ $value | humanizeDuration }} old: the recovery "
            "window is at risk.",
        ),
        AlertRule(
            "ChairsideWalArchiveLag",
            f"chairside_wal_archive_lag_seconds{{{job}}} > {rpo.warning * 60:g}",
            "5m",
            "P3",
            "wal",
            "WAL archiving lags",
            "The newest archived WAL is {{ $value | humanizeDuration }} old (the RPO).",
        ),
        AlertRule(
            "ChairsideWalArchiveLagCritical",
            f"chairside_wal_archive_lag_seconds{{{job}}} > {rpo.critical * 60:g}",
            "5m",
            "P2",
            "wal",
            "WAL archiving is stuck",
            "The newest archived WAL is {{ $value | humanizeDuration }} old: that much data "
            "would be lost with the server.",
        ),
        AlertRule(
            "ChairsideWritesBlockedBySyncReplication",
            f"chairside_replication_writes_blocked{{{job}}} == 1",
            "0m",
            "P1",
            "wal",
            "Commits wait for a synchronous WAL receiver that is not connected",
            "Sync mode without its receiver: start `chairside wal stream --synchronous` (the "
            "fallback policy lets writes go on after CHAIRSIDE_WAL_SYNC_FALLBACK_SECONDS).",
        ),
        AlertRule(
            "ChairsideBackupValidationFailed",
            f"chairside_backup_last_validation_success{{{job}}} == 0",
            "0m",
            "P3",
            "backup_validation",
            "The last backup validation failed",
            "Run `chairside backup validate` and read its report.",
        ),
        AlertRule(
            "ChairsideSmokeTestFailing",
            f"chairside_smoke_success{{{job}}} == 0",
            "5m",
            "P2",
            "smoke",
            "The booking smoke test fails",
            "A canary booking did not go through end to end: run `chairside health smoke`.",
        ),
        AlertRule(
            "ChairsideSmokeTestStale",
            f"time() - chairside_smoke_last_run_timestamp_seconds{{{job}}}"
            f" > {s.smoke_stale_hours * 3600:g}",
            "10m",
            "P4",
            "smoke",
            f"The smoke test has not run for {s.smoke_stale_hours:g} hours",
            "Check the schedule that runs `chairside health smoke`.",
        ),
        AlertRule(
            "ChairsideCertificateExpiringSoon",
            f"chairside_tls_certificate_expiry_timestamp_seconds{{{job}}} - time()"
            f" < {s.health_tls_warning_days * 86400:g}",
            "10m",
            "P4",
            "certificate",
            "TLS certificate of {{ $labels.endpoint }} expires within "
            f"{s.health_tls_warning_days:g} days",
            "Renew it (certbot renew) before it becomes urgent.",
        ),
        AlertRule(
            "ChairsideCertificateExpiring",
            f"chairside_tls_certificate_expiry_timestamp_seconds{{{job}}} - time()"
            f" < {s.health_tls_critical_days * 86400:g}",
            "10m",
            "P2",
            "certificate",
            "TLS certificate of {{ $labels.endpoint }} expires within "
            f"{s.health_tls_critical_days:g} days",
            "Clients will refuse the connection when it expires: renew it now.",
        ),
        AlertRule(
            "ChairsideReminderChannelFailing",
            f'sum by (job, channel) (increase({deliveries}{{{job},outcome="failed"}}[30m]))'
            f" / sum by (job, channel) (increase({deliveries}"
            f'{{{job},outcome=~"sent|failed"}}[30m]))'
            f" > {reminder_failure.warning / 100:g}",
            "10m",
            "P3",
            "reminders",
            "Reminder channel {{ $labels.channel }} fails most deliveries",
            "{{ $value | humanizePercentage }} of the channel's reminder attempts failed over "
            "30 minutes: clients miss reminders. See `chairside reminders status`; retries "
            "go on with backoff until the booking starts.",
        ),
        AlertRule(
            "ChairsideRemindersDelayed",
            f"chairside_reminder_oldest_due_age_seconds{{{job}}} > {reminder_delay.warning * 60:g}",
            "5m",
            "P3",
            "reminders_delay",
            f"A due reminder has waited over {reminder_delay.warning:g} minutes",
            "The oldest due reminder is {{ $value | humanizeDuration }} late: is the "
            "`reminders` job of the schedule running (maintenance mode holds it)?",
        ),
        AlertRule(
            "ChairsideRemindersDelayedCritical",
            f"chairside_reminder_oldest_due_age_seconds{{{job}}}"
            f" > {reminder_delay.critical * 60:g}",
            "5m",
            "P2",
            "reminders_delay",
            f"A due reminder has waited over {reminder_delay.critical:g} minutes",
            "The oldest due reminder is {{ $value | humanizeDuration }} late: reminders are "
            "not going out. Run `chairside reminders run` and read its error.",
        ),
        AlertRule(
            "ChairsideReminderDeliveryAmbiguous",
            f'increase({deliveries}{{{job},outcome="ambiguous"}}[1h]) > 0',
            "0m",
            "P4",
            "reminders_ambiguous",
            "A reminder's delivery on {{ $labels.channel }} has an unknown outcome",
            "A worker stopped mid-delivery; the reminder was not sent again (it may or may "
            "not have reached the client). See `chairside reminders status`.",
        ),
    ]


def _pair(
    name: str,
    measure: str,
    *,
    warning: float,
    critical: float,
    component: str,
    what: str,
    warning_op: str = ">",
) -> list[AlertRule]:
    return [
        AlertRule(
            f"{name}High",
            f"{measure} {warning_op} {warning:g}",
            "10m",
            "P3",
            component,
            f"{what} above {warning:.0%}",
            f"{what} is {{{{ $value | humanizePercentage }}}}.",
        ),
        AlertRule(
            f"{name}Critical",
            f"{measure} > {critical:g}",
            "5m",
            "P2",
            component,
            f"{what} above {critical:.0%}",
            f"{what} is {{{{ $value | humanizePercentage }}}}: act before it runs out.",
        ),
    ]


def promql_duration(seconds: float) -> str:
    """``seconds`` as a PromQL range (``300s``; ``1500ms`` when not whole seconds)."""
    if float(seconds).is_integer():
        return f"{int(seconds)}s"
    return f"{round(seconds * 1000)}ms"


def rule_groups(settings: Settings) -> dict[str, Any]:
    """The rule file's content: one group, evaluated every 30 s."""
    return {
        "groups": [
            {
                "name": "chairside",
                "interval": "30s",
                "rules": [rule.to_rule() for rule in alert_rules(settings)],
            }
        ]
    }
