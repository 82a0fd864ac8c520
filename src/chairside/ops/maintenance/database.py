"""Database maintenance: VACUUM (ANALYZE) every table, rebuild invalid indexes, and clear
what failed concurrent rebuilds leave behind.

All of it runs beside live traffic. VACUUM without FULL and ``REINDEX ... CONCURRENTLY``
block neither reads nor writes; each statement gives up after ``lock_timeout`` rather
than queue behind a schema change (and make every booking queue behind it). A table or
index that could not be locked is reported and left for the next run.

PostgreSQL cannot rebuild an exclusion constraint's index concurrently (the bookings'
no-double-booking constraint is one). Such an index is rebuilt with a plain ``REINDEX``
(it blocks writes to its table while it runs, under the same ``lock_timeout``) only in
a maintenance window, when maintenance mode is on; otherwise it is left for one, and
the run says so as information, not as a failure.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError

from chairside.checks import CheckResult, CheckStatus
from chairside.config import Settings
from chairside.durations import describe
from chairside.errors import GuardRefusedError
from chairside.ops.database.by_node import health_by_node
from chairside.ops.database.connection import app_database
from chairside.ops.database.nodes import has_topology
from chairside.ops.database.statistics import database_health
from chairside.ops.deploy.modes import ModeSwitch

LOCK_TIMEOUT = timedelta(seconds=5)


@dataclass
class DatabaseMaintenance:
    """What one run did to each table and index, and the dead rows before and after."""

    dry_run: bool
    vacuumed: list[str] = field(default_factory=list)
    reindexed: list[str] = field(default_factory=list)
    dropped_leftovers: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    # Exclusion-constraint indexes left for a maintenance window, and why.
    deferred: dict[str, str] = field(default_factory=dict)
    dead_rows_before: int = 0
    dead_rows_after: int = 0
    seconds: float = 0.0
    planned_tables: list[str] = field(default_factory=list)
    planned_indexes: list[str] = field(default_factory=list)
    # With a topology: each node's own statistics after the run (checks and figures).
    node_checks: list[CheckResult] = field(default_factory=list)
    nodes: list[dict[str, Any]] = field(default_factory=list)

    def checks(self) -> list[CheckResult]:
        return self._own_checks() + self.node_checks

    def _own_checks(self) -> list[CheckResult]:
        details: dict[str, object] = self.to_dict()
        if self.dry_run:
            return [
                CheckResult(
                    "database",
                    CheckStatus.OK,
                    f"would vacuum and analyze {len(self.planned_tables)} tables and rebuild"
                    f" {len(self.planned_indexes)} index(es)",
                    details=details,
                )
            ]
        summary = (
            f"vacuumed and analyzed {len(self.vacuumed)} tables (dead rows"
            f" {self.dead_rows_before} -> {self.dead_rows_after}), rebuilt"
            f" {len(self.reindexed)} index(es) in {self.seconds:.1f} s"
        )
        if self.dropped_leftovers:
            summary += (
                f"; dropped leftovers of failed rebuilds: {', '.join(self.dropped_leftovers)}"
            )
        if self.deferred:
            summary += (
                f"; {len(self.deferred)} exclusion-constraint index(es) left for a"
                " maintenance window (PostgreSQL cannot rebuild them concurrently; run"
                " again with `chairside maintenance-mode on`): " + ", ".join(self.deferred)
            )
        status = CheckStatus.OK
        if self.skipped:
            status = CheckStatus.WARNING
            summary += "; skipped (locked by other work, retried next run): " + ", ".join(
                self.skipped
            )
        if self.failed:
            status = CheckStatus.CRITICAL
            summary += "; FAILED " + "; ".join(
                f"{name}: {why}" for name, why in self.failed.items()
            )
        return [CheckResult("database", status, summary, details=details)]

    def to_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "vacuumed": self.vacuumed,
            "reindexed": self.reindexed,
            "dropped_leftovers": self.dropped_leftovers,
            "skipped": self.skipped,
            "failed": self.failed,
            "deferred": self.deferred,
            "dead_rows_before": self.dead_rows_before,
            "dead_rows_after": self.dead_rows_after,
            "seconds": round(self.seconds, 3),
            "planned_tables": self.planned_tables,
            "planned_indexes": self.planned_indexes,
            "nodes": self.nodes,
        }


def maintain_database(
    settings: Settings,
    *,
    reindex_all: bool = False,
    dry_run: bool = False,
    lock_timeout: timedelta = LOCK_TIMEOUT,
    window: bool | None = None,
) -> DatabaseMaintenance:
    """Vacuum and analyze every table; rebuild invalid indexes (every index with
    ``reindex_all``); drop the invalid ``_ccnew``/``_ccold`` copies failed rebuilds left.
    ``window``: whether blocking rebuilds may run (default: maintenance mode is on).

    All of it runs on ``DATABASE_URL``, which must reach the leader (HAProxy's write
    port); with a topology, each node's statistics are read afterwards."""
    began = time.monotonic()
    if window is None:
        window = ModeSwitch(settings).current().maintenance
    result = DatabaseMaintenance(dry_run=dry_run)
    _maintain(settings, result, reindex_all=reindex_all, lock_timeout=lock_timeout, window=window)
    result.seconds = time.monotonic() - began
    if has_topology(settings):
        on_nodes = health_by_node(settings)
        result.node_checks = on_nodes.results
        result.nodes = on_nodes.to_dict()["nodes"]
    return result


def _maintain(
    settings: Settings,
    result: DatabaseMaintenance,
    *,
    reindex_all: bool,
    lock_timeout: timedelta,
    window: bool,
) -> None:
    dry_run = result.dry_run
    with app_database(settings) as plain:
        conn = plain.execution_options(isolation_level="AUTOCOMMIT")
        if conn.execute(text("SELECT pg_is_in_recovery()")).scalar():
            raise GuardRefusedError(
                "DATABASE_URL reaches a replica (it is in recovery): VACUUM and REINDEX run"
                " on the leader only; point DATABASE_URL at the leader (HAProxy's write port)"
            )
        conn.execute(text(f"SET lock_timeout = '{int(lock_timeout.total_seconds() * 1000)}ms'"))
        result.dead_rows_before = _dead_rows(conn)
        result.planned_tables = _tables(conn)
        leftovers = _leftovers(conn)
        result.planned_indexes = _indexes(conn, every=reindex_all, excluding=leftovers)
        if dry_run:
            return
        for name in leftovers:
            if _run(conn, f"DROP INDEX CONCURRENTLY IF EXISTS {name}", name, result, lock_timeout):
                result.dropped_leftovers.append(name)
        for table in result.planned_tables:
            if _run(conn, f"VACUUM (ANALYZE) {table}", table, result, lock_timeout):
                result.vacuumed.append(table)
        exclusion = set(_exclusion_indexes(conn))
        for index in result.planned_indexes:
            if index in exclusion:
                if not window:
                    result.deferred[index] = (
                        "backs an exclusion constraint: REINDEX CONCURRENTLY cannot rebuild"
                        " it, and a plain REINDEX blocks writes, so it waits for a"
                        " maintenance window"
                    )
                elif _run(conn, f"REINDEX INDEX {index}", index, result, lock_timeout):
                    result.reindexed.append(index)
                continue
            if _run(conn, f"REINDEX INDEX CONCURRENTLY {index}", index, result, lock_timeout):
                result.reindexed.append(index)
            else:
                # A failed concurrent rebuild leaves an invalid copy that slows every write.
                for name in _leftovers(conn, of=index):
                    _run(
                        conn,
                        f"DROP INDEX CONCURRENTLY IF EXISTS {name}",
                        name,
                        result,
                        lock_timeout,
                    )
        result.dead_rows_after = _dead_rows(conn)


def _run(
    conn: Connection,
    statement: str,
    name: str,
    result: DatabaseMaintenance,
    lock_timeout: timedelta,
) -> bool:
    try:
        conn.execute(text(statement))
    except DBAPIError as exc:
        sqlstate = getattr(exc.orig, "sqlstate", None)
        if sqlstate == "55P03":  # lock_not_available
            result.skipped[name] = f"could not lock it within {describe(lock_timeout)}"
        else:
            result.failed[name] = str(exc.orig).strip().splitlines()[0]
        return False
    return True


def _tables(conn: Connection) -> list[str]:
    return list(
        conn.execute(
            text(
                "SELECT format('%I.%I', schemaname, relname) FROM pg_stat_user_tables"
                " ORDER BY schemaname, relname"
            )
        ).scalars()
    )


_INDEXES = (
    "SELECT format('%I.%I', n.nspname, c.relname) FROM pg_index i"
    " JOIN pg_class c ON c.oid = i.indexrelid"
    " JOIN pg_namespace n ON n.oid = c.relnamespace"
    " WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')"
    " AND n.nspname NOT LIKE 'pg_toast%'"
)


def _indexes(conn: Connection, *, every: bool, excluding: list[str]) -> list[str]:
    query = _INDEXES + ("" if every else " AND NOT i.indisvalid") + " ORDER BY 1"
    return [name for name in conn.execute(text(query)).scalars() if name not in excluding]


def _exclusion_indexes(conn: Connection) -> list[str]:
    """Indexes that back an exclusion constraint."""
    return list(
        conn.execute(
            text(
                "SELECT format('%I.%I', n.nspname, c.relname) FROM pg_constraint x"
                " JOIN pg_class c ON c.oid = x.conindid"
                " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE x.contype = 'x'"
            )
        ).scalars()
    )


def _leftovers(conn: Connection, *, of: str | None = None) -> list[str]:
    """Invalid indexes named like the copies REINDEX CONCURRENTLY makes (``_ccnew``,
    ``_ccnew1``, ``_ccold``...), of one index or of all."""
    pattern = r"_cc(new|old)[0-9]*$"
    query = _INDEXES + " AND NOT i.indisvalid AND c.relname ~ :pattern"
    params: dict[str, str] = {"pattern": pattern}
    if of is not None:
        query += " AND c.relname LIKE :prefix"
        params["prefix"] = of.rsplit(".", 1)[-1].strip('"') + "_cc%"
    return list(conn.execute(text(query + " ORDER BY 1"), params).scalars())


def _dead_rows(conn: Connection) -> int:
    return sum(t.dead_rows for t in database_health(conn).tables)
