"""Prometheus alert rules, built from the same settings as the health checks.

Every alert carries ``severity`` (what Alertmanager routes on) and ``priority`` (the
runbooks' escalation matrix), always paired the same way::

    P0  critical  complete outage: page primary on-call and manager within 15 minutes
    P1  critical  major degradation: page primary on-call within 1 hour
    P2  warning   minor issue: the on-call chat, handled within 4 hours
    P3  info      not user-facing: a ticket for the next business day

``component`` groups the warning and critical variants of one measurement, so the
critical one inhibits the warning (see ``alertmanager.py``). The tests prove every rule
fires at its threshold and not below, and that every metric a rule reads is exported.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from chairside.config import Settings

Priority = Literal["P0", "P1", "P2", "P3"]
SEVERITY: dict[str, str] = {"P0": "critical", "P1": "critical", "P2": "warning", "P3": "info"}
# Monitoring traffic is not client traffic (same exclusion as the health checks).
CLIENT_ROUTES = 'route!~"/health.*|/metrics"'


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
    error_ratio = s.health_error_rate_percent / 100
    return [
        AlertRule(
            "ChairsideInstanceDown",
            f"up{{{job}}} == 0",
            "1m",
            "P0",
            "instance",
            "Chairside instance {{ $labels.instance }} is down",
            "Prometheus has not been able to scrape {{ $labels.instance }} for a minute.",
        ),
        AlertRule(
            "ChairsideDatabaseDown",
            f'chairside_health_status{{{job},check="database"}} == 2',
            "1m",
            "P0",
            "database",
            "The application database does not answer",
            "The database health check has been critical for a minute: no booking can be made.",
        ),
        AlertRule(
            "ChairsideHighErrorRate",
            f'sum by (job) (rate(http_requests_total{{{job},status=~"5..",{CLIENT_ROUTES}}}[5m]))'
            f" / sum by (job) (rate(http_requests_total{{{job},{CLIENT_ROUTES}}}[5m]))"
            f" > {error_ratio:g}",
            "5m",
            "P1",
            "http",
            "More than {threshold}% of requests fail".replace(
                "{threshold}", f"{s.health_error_rate_percent:g}"
            ),
            "{{ $value | humanizePercentage }} of client requests answered 5xx over 5 minutes.",
        ),
        AlertRule(
            "ChairsideHighLatencyP95",
            "histogram_quantile(0.95, sum by (job, le) (rate("
            f"http_request_duration_seconds_bucket{{{job},{CLIENT_ROUTES}}}[5m])))"
            f" > {s.health_p95_seconds:g}",
            "5m",
            "P1",
            "http",
            f"p95 response time above {s.health_p95_seconds:g} s",
            "The 95th percentile of client request time is {{ $value | humanizeDuration }}.",
        ),
        *_pair(
            "ChairsideDiskUsage",
            f"chairside_disk_usage_ratio{{{job}}}",
            warning=s.health_disk_warning_percent / 100,
            critical=s.health_disk_critical_percent / 100,
            component="disk",
            what="Disk usage of {{ $labels.path }}",
        ),
        *_pair(
            "ChairsideMemoryUsage",
            f"chairside_memory_usage_ratio{{{job}}}",
            warning=s.health_memory_warning_percent / 100,
            critical=s.health_memory_critical_percent / 100,
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
            "P2",
            "redis",
            "Redis is unreachable: running degraded",
            "Rate limits and caches fall back to PostgreSQL; bookings still work.",
        ),
        AlertRule(
            "ChairsideBackupTooOld",
            f"time() - chairside_backup_last_success_timestamp_seconds{{{job}}}"
            f" > {s.backup_warning_hours * 3600:g}",
            "15m",
            "P2",
            "backup",
            f"No good base backup for {s.backup_warning_hours:g} hours",
            "The newest complete backup is {{ $value | humanizeDuration }} old.",
        ),
        AlertRule(
            "ChairsideBackupTooOldCritical",
            f"time() - chairside_backup_last_success_timestamp_seconds{{{job}}}"
            f" > {s.backup_critical_hours * 3600:g}",
            "15m",
            "P1",
            "backup",
            f"No good base backup for {s.backup_critical_hours:g} hours",
            "The newest complete backup is {{ $value | humanizeDuration }} old: the recovery "
            "window is at risk.",
        ),
        AlertRule(
            "ChairsideWalArchiveLag",
            f"chairside_wal_archive_lag_seconds{{{job}}} > {s.wal_warning_minutes * 60:g}",
            "5m",
            "P2",
            "wal",
            "WAL archiving lags",
            "The newest archived WAL is {{ $value | humanizeDuration }} old (the RPO).",
        ),
        AlertRule(
            "ChairsideWalArchiveLagCritical",
            f"chairside_wal_archive_lag_seconds{{{job}}} > {s.wal_critical_minutes * 60:g}",
            "5m",
            "P1",
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
            "P2",
            "backup_validation",
            "The last backup validation failed",
            "Run `chairside backup validate` and read its report.",
        ),
        AlertRule(
            "ChairsideSmokeTestFailing",
            f"chairside_smoke_success{{{job}}} == 0",
            "5m",
            "P1",
            "smoke",
            "The booking smoke test fails",
            "A canary booking did not go through end to end: run `chairside health smoke`.",
        ),
        AlertRule(
            "ChairsideSmokeTestStale",
            f"time() - chairside_smoke_last_run_timestamp_seconds{{{job}}}"
            f" > {s.smoke_stale_hours * 3600:g}",
            "10m",
            "P3",
            "smoke",
            f"The smoke test has not run for {s.smoke_stale_hours:g} hours",
            "Check the schedule that runs `chairside health smoke`.",
        ),
        AlertRule(
            "ChairsideCertificateExpiringSoon",
            f"chairside_tls_certificate_expiry_timestamp_seconds{{{job}}} - time()"
            f" < {s.health_tls_warning_days * 86400:g}",
            "10m",
            "P3",
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
            "P1",
            "certificate",
            "TLS certificate of {{ $labels.endpoint }} expires within "
            f"{s.health_tls_critical_days:g} days",
            "Clients will refuse the connection when it expires: renew it now.",
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
            "P2",
            component,
            f"{what} above {warning:.0%}",
            f"{what} is {{{{ $value | humanizePercentage }}}}.",
        ),
        AlertRule(
            f"{name}Critical",
            f"{measure} > {critical:g}",
            "5m",
            "P1",
            component,
            f"{what} above {critical:.0%}",
            f"{what} is {{{{ $value | humanizePercentage }}}}: act before it runs out.",
        ),
    ]


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
