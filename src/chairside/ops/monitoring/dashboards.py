"""Grafana dashboards as JSON: overview, database, business and infrastructure.

Built from a few panel helpers so every panel has the same datasource variable, units
and layout; the tests check that every expression reads metrics Chairside exports.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chairside.config import Settings
from chairside.ops.thresholds import Threshold, threshold_table

DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
CLIENT = 'route!~"/health.*|/metrics|\\\\(mode\\\\)"'


@dataclass(frozen=True)
class Panel:
    """One panel: a title, its PromQL targets (expr, legend), a unit and a kind."""

    title: str
    targets: tuple[tuple[str, str], ...]
    unit: str = "short"
    kind: str = "timeseries"
    width: int = 12
    # Warning and critical limits (in the panel's unit) drawn as Grafana thresholds.
    limits: tuple[float, float] | None = None


def dashboards(settings: Settings) -> dict[str, dict[str, Any]]:
    """Every dashboard, keyed by file name."""
    job = f'job="{settings.metrics_job}"'
    table = threshold_table(settings)
    return {
        "chairside-overview.json": _dashboard(
            "Chairside overview", "chairside-overview", _overview(job)
        ),
        "chairside-database.json": _dashboard(
            "Chairside database", "chairside-database", _database(job)
        ),
        "chairside-business.json": _dashboard(
            "Chairside business", "chairside-business", _business(job)
        ),
        "chairside-infrastructure.json": _dashboard(
            "Chairside infrastructure", "chairside-infrastructure", _infrastructure(job, table)
        ),
    }


def _overview(job: str) -> list[Panel]:
    return [
        Panel("Instances up", ((f"sum(up{{{job}}})", "up"),), kind="stat", width=6),
        Panel(
            "Smoke test passing",
            ((f"chairside_smoke_success{{{job}}}", "smoke"),),
            kind="stat",
            width=6,
        ),
        Panel(
            "Worst health status (0 ok, 1 warning, 2 critical, 3 unknown)",
            ((f"max(chairside_health_status{{{job}}})", "worst"),),
            kind="stat",
            width=12,
        ),
        Panel(
            "Requests per second by status",
            (
                (
                    f"sum by (status) (rate(http_requests_total{{{job},{CLIENT}}}[5m]))",
                    "{{status}}",
                ),
            ),
            unit="reqps",
        ),
        Panel(
            "Error ratio (5xx)",
            (
                (
                    f'sum(rate(http_requests_total{{{job},status=~"5..",{CLIENT}}}[5m]))'
                    f" / sum(rate(http_requests_total{{{job},{CLIENT}}}[5m]))",
                    "5xx",
                ),
            ),
            unit="percentunit",
        ),
        Panel(
            "Latency p50 / p95 / p99",
            tuple(
                (
                    f"histogram_quantile({q}, sum by (le) (rate("
                    f"http_request_duration_seconds_bucket{{{job},{CLIENT}}}[5m])))",
                    f"p{int(q * 100)}",
                )
                for q in (0.5, 0.95, 0.99)
            ),
            unit="s",
        ),
        Panel(
            "Health checks",
            ((f"chairside_health_status{{{job}}}", "{{check}}"),),
            kind="table",
        ),
    ]


def _database(job: str) -> list[Panel]:
    return [
        Panel(
            "Connections vs max_connections",
            (
                (f"chairside_postgres_connections{{{job}}}", "in use"),
                (f"chairside_postgres_max_connections{{{job}}}", "max"),
            ),
        ),
        Panel(
            "Pool: checked out vs size",
            (
                (f"chairside_db_pool_checked_out_connections{{{job}}}", "checked out"),
                (f"chairside_db_pool_size_connections{{{job}}}", "size"),
            ),
        ),
        Panel(
            "Database check latency",
            ((f'chairside_health_check_duration_seconds{{{job},check="database"}}', "SELECT 1"),),
            unit="s",
        ),
        Panel(
            "Pool checkouts per second",
            ((f"rate(chairside_db_pool_checkouts_total{{{job}}}[5m])", "checkouts"),),
            unit="ops",
        ),
        Panel(
            "Age of the newest good backup",
            ((f"time() - chairside_backup_last_success_timestamp_seconds{{{job}}}", "age"),),
            unit="s",
        ),
        Panel(
            "WAL archive lag (RPO)",
            ((f"chairside_wal_archive_lag_seconds{{{job}}}", "lag"),),
            unit="s",
        ),
    ]


def _business(job: str) -> list[Panel]:
    return [
        Panel(
            "Booking attempts per minute by outcome",
            (
                (
                    f"sum by (outcome) (rate(chairside_booking_attempts_total{{{job}}}[5m])) * 60",
                    "{{outcome}}",
                ),
            ),
        ),
        Panel(
            "Bookings by status",
            ((f"chairside_bookings{{{job}}}", "{{status}}"),),
        ),
        Panel(
            "Payments by outcome",
            ((f"chairside_payments{{{job}}}", "{{status}}"),),
        ),
        Panel(
            "Refunds",
            ((f"chairside_refunds{{{job}}}", "refunds"),),
        ),
        Panel(
            "Smoke test step durations",
            ((f"chairside_smoke_step_duration_seconds{{{job}}}", "{{step}}"),),
            unit="s",
            width=24,
        ),
    ]


def _ratio_limits(row: Threshold) -> tuple[float, float] | None:
    if row.warning is None or row.critical is None:
        return None
    return (row.warning / 100, row.critical / 100)


def _infrastructure(job: str, table: dict[str, Threshold]) -> list[Panel]:
    return [
        Panel(
            "Disk usage",
            ((f"chairside_disk_usage_ratio{{{job}}}", "{{path}}"),),
            "percentunit",
            limits=_ratio_limits(table["disk_percent"]),
        ),
        Panel(
            "Memory usage",
            ((f"chairside_memory_usage_ratio{{{job}}}", "memory"),),
            "percentunit",
            limits=_ratio_limits(table["memory_percent"]),
        ),
        Panel(
            "Days until TLS certificates expire",
            (
                (
                    f"(chairside_tls_certificate_expiry_timestamp_seconds{{{job}}} - time())"
                    " / 86400",
                    "{{endpoint}}",
                ),
            ),
            unit="d",
        ),
        Panel(
            "Health check durations",
            ((f"chairside_health_check_duration_seconds{{{job}}}", "{{check}}"),),
            unit="s",
        ),
    ]


def _defaults(panel: Panel) -> dict[str, Any]:
    defaults: dict[str, Any] = {"unit": panel.unit}
    if panel.limits is not None:
        warning, critical = panel.limits
        defaults["thresholds"] = {
            "mode": "absolute",
            "steps": [
                {"color": "green", "value": None},
                {"color": "orange", "value": warning},
                {"color": "red", "value": critical},
            ],
        }
        defaults["custom"] = {"thresholdsStyle": {"mode": "line"}}
    return defaults


def _dashboard(title: str, uid: str, panels: list[Panel]) -> dict[str, Any]:
    rendered = []
    x = y = 0
    for number, panel in enumerate(panels, start=1):
        if x + panel.width > 24:
            x, y = 0, y + 8
        rendered.append(
            {
                "id": number,
                "type": panel.kind,
                "title": panel.title,
                "datasource": DATASOURCE,
                "gridPos": {"x": x, "y": y, "w": panel.width, "h": 8},
                "fieldConfig": {"defaults": _defaults(panel), "overrides": []},
                "targets": [
                    {"refId": chr(ord("A") + i), "expr": expr, "legendFormat": legend}
                    for i, (expr, legend) in enumerate(panel.targets)
                ],
            }
        )
        x += panel.width
    return {
        "uid": uid,
        "title": title,
        "tags": ["chairside"],
        "timezone": "utc",
        "schemaVersion": 39,
        "version": 1,
        "editable": True,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "templating": {
            "list": [
                {
                    "name": "datasource",
                    "type": "datasource",
                    "query": "prometheus",
                    "label": "Prometheus",
                }
            ]
        },
        "panels": rendered,
    }
