"""The maintenance run: which steps a kind runs, in what order, under one lock, recorded.

``full`` is the runbooks' weekly job: logs, system, database, then a review of what a
human should look at (dead rows and transaction-ID age after the vacuum, slow
statements, connections, and a continuity validation of every backup). A step that
cannot run (the database is down, say) is reported as critical and the others still run:
rotating logs matters most on the night the database is in trouble.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from chairside.checks import CheckResult, CheckStatus, worst
from chairside.config import Settings
from chairside.errors import ChairsideError
from chairside.ops.backup.validation.service import ValidationLevel, validate_backups
from chairside.ops.database import activity, by_node, statistics
from chairside.ops.database.connection import app_database
from chairside.ops.database.nodes import has_topology
from chairside.ops.locks import named_lock
from chairside.ops.maintenance import logs, system
from chairside.ops.maintenance.database import maintain_database
from chairside.ops.thresholds import threshold_table
from chairside.ops.timeline.store import open_ops_store

MAINTENANCE_LOCK = "maintenance"
StepReporter = Callable[[str], None]


class MaintenanceKind(enum.StrEnum):
    FULL = "full"
    DATABASE = "database"
    LOGS = "logs"
    SYSTEM = "system"

    def includes(self, part: MaintenanceKind) -> bool:
        return self is part or self is MaintenanceKind.FULL


@dataclass(frozen=True)
class MaintenanceOptions:
    reindex_all: bool = False
    log_max_bytes: int = logs.MAX_BYTES
    log_keep: timedelta = logs.KEEP
    stale_after: timedelta = system.STALE_AFTER


@dataclass
class MaintenanceRun:
    """The results of one run, in the order the steps ran."""

    kind: MaintenanceKind
    dry_run: bool
    started_at: datetime
    finished_at: datetime | None = None
    results: list[CheckResult] = field(default_factory=list)

    @property
    def status(self) -> CheckStatus:
        return worst(r.status for r in self.results)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "dry_run": self.dry_run,
            "status": self.status.value,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "checks": [r.to_dict() for r in self.results],
        }


def run_maintenance(
    settings: Settings,
    kind: MaintenanceKind,
    *,
    options: MaintenanceOptions = MaintenanceOptions(),
    dry_run: bool = False,
    step: StepReporter | None = None,
) -> MaintenanceRun:
    """Run the steps of ``kind`` under the maintenance lock; record a ``maintenance.*`` event."""
    report = step or (lambda _message: None)
    run = MaintenanceRun(kind=kind, dry_run=dry_run, started_at=datetime.now(UTC))
    with named_lock(settings.home, MAINTENANCE_LOCK, purpose=f"maintenance {kind.value}"):
        if kind.includes(MaintenanceKind.LOGS):
            report("rotating logs")
            run.results += _step("logs", lambda: [_rotate(settings, options, dry_run)])
        if kind.includes(MaintenanceKind.SYSTEM):
            report("measuring disks and clearing leftovers")
            run.results += _step(
                "system",
                lambda: system.clean_system(
                    settings, stale_after=options.stale_after, dry_run=dry_run
                ).checks(**_disk_limits(settings)),
            )
        if kind.includes(MaintenanceKind.DATABASE):
            report("vacuuming, analyzing and rebuilding invalid indexes")
            run.results += _step(
                "database",
                lambda: maintain_database(
                    settings, reindex_all=options.reindex_all, dry_run=dry_run
                ).checks(),
            )
        if kind is MaintenanceKind.FULL and not dry_run:
            report("reviewing the database")
            run.results += _step("review", lambda: _review_database(settings))
            report("validating backups (continuity)")
            run.results += _step("backups", lambda: [_validate_backups(settings)])
    run.finished_at = datetime.now(UTC)
    if not dry_run:
        problems = [r.summary for r in run.results if r.status is not CheckStatus.OK]
        open_ops_store(settings).record(
            f"maintenance.{kind.value}",
            f"maintenance {kind.value}: {run.status.value}"
            + (f" ({'; '.join(problems)[:300]})" if problems else ""),
            status="ok" if run.status is CheckStatus.OK else run.status.value,
            details=run.to_dict(),
        )
    return run


def _disk_limits(settings: Settings) -> dict[str, float]:
    """The disk thresholds of the one table, the same ``chairside health`` judges by."""
    disk = threshold_table(settings)["disk_percent"]
    assert disk.warning is not None and disk.critical is not None
    return {"warning": disk.warning / 100, "critical": disk.critical / 100}


def _step(name: str, work: Callable[[], list[CheckResult]]) -> list[CheckResult]:
    try:
        return work()
    except ChairsideError as exc:
        return [CheckResult(name, CheckStatus.CRITICAL, f"could not run: {exc.message}")]


def _rotate(settings: Settings, options: MaintenanceOptions, dry_run: bool) -> CheckResult:
    return logs.rotate_logs(
        settings, max_bytes=options.log_max_bytes, keep=options.log_keep, dry_run=dry_run
    ).check()


def _review_database(settings: Settings) -> list[CheckResult]:
    if has_topology(settings):
        # Each node's own figures; slow statements are reviewed on the leader below.
        results = by_node.health_by_node(settings).results
        results += by_node.connections_by_node(settings).results
        with app_database(settings) as conn:
            results.append(_slow_queries(conn))
        return results
    with app_database(settings) as conn:
        results = statistics.database_health(conn).checks()
        results.append(activity.connection_usage(conn).check())
        results.append(_slow_queries(conn))
    return results


def _slow_queries(conn: Connection) -> CheckResult:
    if statistics.statement_stats_installed(conn):
        return statistics.slow_queries(conn).check()
    return CheckResult(
        "slow_queries",
        CheckStatus.OK,
        f"not reviewed: pg_stat_statements is not installed ({statistics.EXTENSION_HINT})",
    )


def _validate_backups(settings: Settings) -> CheckResult:
    run = validate_backups(settings, level=ValidationLevel.CONTINUITY)
    if not run.backups:
        return CheckResult(
            "backups",
            CheckStatus.CRITICAL,
            f"no backup in {run.repository} to validate: take one with `chairside backup full`",
        )
    failing = [b for b in run.backups if b.status is not CheckStatus.OK]
    summary = f"{len(run.backups)} backup(s) validated (continuity)"
    if failing:
        summary += ": " + "; ".join(f"{b.backup_id} {b.status.value}" for b in failing)
    return CheckResult("backups", run.status, summary, details=run.to_dict())
