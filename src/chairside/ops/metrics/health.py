"""Health, resource, certificate, backup and smoke metrics, read at scrape time.

They come from the health probe's (cached) results, so ``/metrics``,
``/health/detailed`` and ``chairside health`` can never disagree about a threshold: the
alert rules compare the raw measurements exported here, and the checks grade the same
measurements.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from chairside.checks import CheckResult, CheckStatus
from chairside.config import Settings
from chairside.ops.health.probe import HealthProbe
from chairside.ops.health.status_file import read_smoke_result

# The same numbers as the check commands' exit codes.
STATUS_VALUE = {
    CheckStatus.OK: 0,
    CheckStatus.WARNING: 1,
    CheckStatus.CRITICAL: 2,
    CheckStatus.UNKNOWN: 3,
}


class HealthCollector(Collector):
    """Exports ``chairside_health_*`` and the measurements behind each check."""

    def __init__(self, probe: HealthProbe) -> None:
        self.probe = probe

    def collect(self) -> Iterator[Metric]:
        snapshot = self.probe.snapshot()
        status = GaugeMetricFamily(
            "chairside_health_status",
            "Result of each health check: 0 ok, 1 warning, 2 critical, 3 unknown.",
            labels=["check"],
        )
        latency = GaugeMetricFamily(
            "chairside_health_check_duration_seconds",
            "Time the health check took on its last run.",
            labels=["check"],
        )
        for result in snapshot.results:
            status.add_metric([result.name], STATUS_VALUE[result.status])
            if result.latency_ms is not None:
                latency.add_metric([result.name], result.latency_ms / 1000)
        yield status
        yield latency
        yield GaugeMetricFamily(
            "chairside_health_last_run_timestamp_seconds",
            "When the health checks last ran (Unix time).",
            value=snapshot.at,
        )
        yield from _measurements({r.name: r for r in snapshot.results}, snapshot.results)


def _measurements(by_name: dict[str, CheckResult], results: list[CheckResult]) -> Iterator[Metric]:
    disk = by_name.get("disk")
    if disk is not None and "percent" in disk.details:
        family = GaugeMetricFamily(
            "chairside_disk_usage_ratio",
            "Fraction of the filesystem holding CHAIRSIDE_HOME in use.",
            labels=["path"],
        )
        family.add_metric([str(disk.details["path"])], _num(disk.details["percent"]) / 100)
        yield family
    memory = by_name.get("memory")
    if memory is not None and "percent" in memory.details:
        yield GaugeMetricFamily(
            "chairside_memory_usage_ratio",
            "Fraction of memory in use (the cgroup limit when tighter than the host).",
            value=_num(memory.details["percent"]) / 100,
        )
    connections = by_name.get("connections")
    if connections is not None and "used" in connections.details:
        yield GaugeMetricFamily(
            "chairside_postgres_connections",
            "Client connections open on the PostgreSQL server.",
            value=_num(connections.details["used"]),
        )
        yield GaugeMetricFamily(
            "chairside_postgres_max_connections",
            "The PostgreSQL server's max_connections.",
            value=_num(connections.details["max"]),
        )
    expiry = GaugeMetricFamily(
        "chairside_tls_certificate_expiry_timestamp_seconds",
        "When the certificate served at each watched endpoint expires (Unix time).",
        labels=["endpoint"],
    )
    for result in results:
        if result.name.startswith("tls:") and "expires_at" in result.details:
            expiry.add_metric([str(result.details["endpoint"])], _num(result.details["expires_at"]))
    yield expiry
    yield from _backup_measurements(by_name)


def _backup_measurements(by_name: dict[str, CheckResult]) -> Iterator[Metric]:
    backup = by_name.get("backup_age")
    if backup is not None and backup.status is not CheckStatus.UNKNOWN:
        # 0 when there is no good backup at all: "too old" then fires by itself.
        yield GaugeMetricFamily(
            "chairside_backup_last_success_timestamp_seconds",
            "Stop time of the newest complete base backup (Unix time; 0 when none).",
            value=_num(backup.details.get("last_success_timestamp", 0)),
        )
        validation = backup.details.get("last_validation_ok")
        if validation is not None:
            yield GaugeMetricFamily(
                "chairside_backup_last_validation_success",
                "1 when the newest backup validation passed, 0 when it failed.",
                value=1.0 if validation else 0.0,
            )
    wal = by_name.get("wal_archive_lag")
    if wal is not None and "lag_seconds" in wal.details:
        yield GaugeMetricFamily(
            "chairside_wal_archive_lag_seconds",
            "Age of the newest WAL segment in the archive: the recovery point objective.",
            value=_num(wal.details["lag_seconds"]),
        )
    if wal is not None and wal.details.get("rpo_bytes") is not None:
        yield GaugeMetricFamily(
            "chairside_wal_rpo_bytes",
            "WAL written but not yet shipped (archived, or flushed by the receiver).",
            value=_num(wal.details["rpo_bytes"]),
        )
    yield from _replication_measurements(by_name.get("replication"))


def _replication_measurements(check: CheckResult | None) -> Iterator[Metric]:
    if check is None or "slots" not in check.details:
        return
    retained = GaugeMetricFamily(
        "chairside_replication_slot_retained_bytes",
        "WAL each replication slot keeps on the server.",
        labels=["slot", "active"],
    )
    slots = check.details.get("slots")
    for slot in slots if isinstance(slots, list) else []:
        if isinstance(slot, dict) and slot.get("retained_bytes") is not None:
            active = "true" if slot.get("active") else "false"
            retained.add_metric([str(slot["slot_name"]), active], _num(slot["retained_bytes"]))
    yield retained
    found = check.details.get("receivers")
    receivers = found if isinstance(found, list) else []
    yield GaugeMetricFamily(
        "chairside_replication_sync_receivers",
        "Connected WAL receivers the server treats as synchronous.",
        value=float(
            sum(1 for r in receivers if isinstance(r, dict) and r.get("sync_state") == "sync")
        ),
    )
    yield GaugeMetricFamily(
        "chairside_replication_writes_blocked",
        "1 when commits wait for a synchronous receiver that is not connected.",
        value=1.0 if check.details.get("writes_blocked") else 0.0,
    )


class SmokeCollector(Collector):
    """Exports the newest ``chairside health smoke`` run from its status file."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def collect(self) -> Iterator[Metric]:
        data = read_smoke_result(self.settings)
        # 0 when no smoke test ever ran here, so "smoke stale" fires on a new host too.
        at = _num(data.get("at_timestamp", 0)) if data else 0.0
        yield GaugeMetricFamily(
            "chairside_smoke_last_run_timestamp_seconds",
            "When the business smoke test last ran (Unix time; 0 when never).",
            value=at,
        )
        if data is None:
            return
        yield GaugeMetricFamily(
            "chairside_smoke_success",
            "1 when every step of the newest smoke run passed, else 0.",
            value=1.0 if data.get("status") == "ok" else 0.0,
        )
        yield GaugeMetricFamily(
            "chairside_smoke_duration_seconds",
            "How long the newest smoke run took end to end.",
            value=_num(data.get("duration_seconds", 0)),
        )
        steps = GaugeMetricFamily(
            "chairside_smoke_step_duration_seconds",
            "How long each step of the newest smoke run took.",
            labels=["step"],
        )
        for step in data.get("steps", []):
            if isinstance(step, dict) and step.get("latency_ms") is not None:
                steps.add_metric([str(step["name"])], _num(step["latency_ms"]) / 1000)
        yield steps


def _num(value: object) -> float:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return 0.0
