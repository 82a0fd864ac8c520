"""What the statistics views say about the application database: the slowest statements
(``pg_stat_statements``) and the health of its tables and indexes (dead rows, vacuum and
analyze ages, transaction-ID age, invalid and unused indexes).

These are the runbooks' "slow queries", "dead tuples" and "index usage" queries, with
thresholds that turn them into check results.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, text

from chairside.checks import CheckResult, CheckStatus
from chairside.config import Settings
from chairside.errors import ConfigError
from chairside.runtime.postgres import PostgresCluster

# The runbook's "look for queries > 1000 ms".
SLOW_MEAN_MS = 1000.0

# Autovacuum starts at 50 + 20% dead rows; a table far past that is one it cannot keep up
# with (or one a long transaction stops it from cleaning).
DEAD_ROWS_MIN = 1000
DEAD_FRACTION_WARNING = 0.20

# PostgreSQL stops accepting writes near 2^31 transactions of age; autovacuum freezes at
# 200 M by default. Well past that means freezing is not keeping up.
XID_AGE_WARNING = 500_000_000
XID_AGE_CRITICAL = 1_500_000_000

EXTENSION_HINT = (
    "the server needs shared_preload_libraries = 'pg_stat_statements' (a restart) and the "
    "database `CREATE EXTENSION pg_stat_statements` (as a superuser); `chairside up` does "
    "both for its embedded cluster"
)


class SlowOrder(enum.StrEnum):
    """How slow-queries ranks statements."""

    MEAN = "mean"
    TOTAL = "total"
    CALLS = "calls"

    @property
    def column(self) -> str:
        return {"mean": "mean_exec_time", "total": "total_exec_time", "calls": "calls"}[self]


@dataclass(frozen=True)
class StatementStats:
    """One normalized statement's totals since the statistics were last reset."""

    query: str
    calls: int
    mean_ms: float
    max_ms: float
    total_ms: float
    rows: int
    share_of_time: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "query": self.query,
            "calls": self.calls,
            "mean_ms": round(self.mean_ms, 3),
            "max_ms": round(self.max_ms, 3),
            "total_ms": round(self.total_ms, 3),
            "rows": self.rows,
            "share_of_time": round(self.share_of_time, 4),
        }


@dataclass(frozen=True)
class SlowQueries:
    """The top statements and whether any is slower on average than the threshold."""

    order: SlowOrder
    threshold_ms: float
    statements: list[StatementStats]
    since: datetime | None
    slow_count: int
    slowest: StatementStats | None

    def check(self) -> CheckResult:
        if self.slow_count == 0 or self.slowest is None:
            return CheckResult(
                "slow_queries",
                CheckStatus.OK,
                f"no statement averages over {self.threshold_ms:g} ms",
            )
        return CheckResult(
            "slow_queries",
            CheckStatus.WARNING,
            f"{self.slow_count} statement(s) average over {self.threshold_ms:g} ms; the slowest"
            f" {self.slowest.mean_ms:.0f} ms over {self.slowest.calls} calls:"
            f" {_one_line(self.slowest.query, 120)}",
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "order": self.order.value,
            "threshold_ms": self.threshold_ms,
            "since": self.since.isoformat() if self.since else None,
            "slow_count": self.slow_count,
            "statements": [s.to_dict() for s in self.statements],
        }


def statement_stats_installed(conn: Connection) -> bool:
    """True when this database has the pg_stat_statements extension."""
    return bool(
        conn.execute(
            text("SELECT EXISTS (SELECT FROM pg_extension WHERE extname = 'pg_stat_statements')")
        ).scalar()
    )


def slow_queries(
    conn: Connection,
    *,
    limit: int = 10,
    order: SlowOrder = SlowOrder.MEAN,
    threshold_ms: float = SLOW_MEAN_MS,
) -> SlowQueries:
    """The ``limit`` statements of this database ranked by ``order``."""
    if not statement_stats_installed(conn):
        raise ConfigError(f"pg_stat_statements is not installed in this database: {EXTENSION_HINT}")
    if not _preloaded(conn):
        raise ConfigError(f"pg_stat_statements is installed but not loaded: {EXTENSION_HINT}")
    scope = (
        " FROM pg_stat_statements s"
        " WHERE s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())"
        " AND s.toplevel"
    )
    total, slow_count = conn.execute(
        text(
            "SELECT coalesce(sum(s.total_exec_time), 0),"
            f" count(*) FILTER (WHERE s.mean_exec_time > :threshold){scope}"
        ),
        {"threshold": threshold_ms},
    ).one()
    grand_total = float(total) or 1.0
    columns = "s.query, s.calls, s.mean_exec_time, s.max_exec_time, s.total_exec_time, s.rows"

    def top(column: str, count: int) -> list[StatementStats]:
        rows = conn.execute(
            text(f"SELECT {columns}{scope} ORDER BY s.{column} DESC LIMIT :limit"),
            {"limit": count},
        )
        return [
            StatementStats(
                query=r.query,
                calls=int(r.calls),
                mean_ms=float(r.mean_exec_time),
                max_ms=float(r.max_exec_time),
                total_ms=float(r.total_exec_time),
                rows=int(r.rows),
                share_of_time=float(r.total_exec_time) / grand_total,
            )
            for r in rows
        ]

    slowest = top(SlowOrder.MEAN.column, 1)
    return SlowQueries(
        order=order,
        threshold_ms=threshold_ms,
        since=conn.execute(text("SELECT stats_reset FROM pg_stat_statements_info")).scalar(),
        statements=top(order.column, limit),
        slow_count=int(slow_count),
        slowest=slowest[0] if slowest else None,
    )


def preload_statement_stats(cluster: PostgresCluster, settings: Settings) -> None:
    """A ClusterConfigurer: load pg_stat_statements at the next start of ``cluster``."""
    cluster.configure(
        {
            "shared_preload_libraries": "pg_stat_statements",
            # top-level statements only: what the application sent, not what functions ran
            "pg_stat_statements.track": "top",
        }
    )


def install_statement_stats(conn: Connection) -> bool:
    """Create the extension when the server preloads it; True when it is usable after."""
    if not _preloaded(conn):
        return False
    conn.execute(text("CREATE EXTENSION IF NOT EXISTS pg_stat_statements"))
    conn.commit()
    return True


def _preloaded(conn: Connection) -> bool:
    libraries = conn.execute(text("SHOW shared_preload_libraries")).scalar() or ""
    return "pg_stat_statements" in {part.strip() for part in str(libraries).split(",")}


@dataclass(frozen=True)
class TableHealth:
    """Dead rows and maintenance ages of one table."""

    name: str
    live_rows: int
    dead_rows: int
    size_bytes: int
    last_vacuum: datetime | None
    last_analyze: datetime | None

    @property
    def dead_fraction(self) -> float:
        return self.dead_rows / max(self.live_rows + self.dead_rows, 1)

    @property
    def bloated(self) -> bool:
        return self.dead_rows >= DEAD_ROWS_MIN and self.dead_fraction > DEAD_FRACTION_WARNING

    def to_dict(self) -> dict[str, Any]:
        return {
            "table": self.name,
            "live_rows": self.live_rows,
            "dead_rows": self.dead_rows,
            "dead_fraction": round(self.dead_fraction, 4),
            "size_bytes": self.size_bytes,
            "last_vacuum": self.last_vacuum.isoformat() if self.last_vacuum else None,
            "last_analyze": self.last_analyze.isoformat() if self.last_analyze else None,
            "bloated": self.bloated,
        }


@dataclass(frozen=True)
class IndexNote:
    """An index worth a look: invalid (a failed concurrent build) or never scanned."""

    name: str
    table: str
    size_bytes: int
    scans: int
    valid: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.name,
            "table": self.table,
            "size_bytes": self.size_bytes,
            "scans": self.scans,
            "valid": self.valid,
        }


@dataclass(frozen=True)
class DatabaseHealth:
    """Tables, indexes and transaction-ID age of one database."""

    database: str
    xid_age: int
    tables: list[TableHealth]
    invalid_indexes: list[IndexNote]
    unused_indexes: list[IndexNote]

    def checks(self) -> list[CheckResult]:
        return [self._dead_rows(), self._xid_age(), self._indexes()]

    def _dead_rows(self) -> CheckResult:
        bloated = [t for t in self.tables if t.bloated]
        if not bloated:
            return CheckResult("dead_rows", CheckStatus.OK, "no table over 20% dead rows")
        names = ", ".join(
            f"{t.name} ({t.dead_fraction:.0%} of {t.dead_rows + t.live_rows})" for t in bloated
        )
        return CheckResult(
            "dead_rows",
            CheckStatus.WARNING,
            f"dead rows over 20% in {names}: run `chairside maintenance database`, and look "
            "for long transactions with `chairside db long-running`",
        )

    def _xid_age(self) -> CheckResult:
        summary = f"oldest unfrozen transaction ID is {self.xid_age:,} transactions old"
        if self.xid_age > XID_AGE_CRITICAL:
            return CheckResult(
                "xid_age",
                CheckStatus.CRITICAL,
                summary + f" (over {XID_AGE_CRITICAL:,}; writes stop near 2.1 billion): "
                "run `chairside maintenance database` now",
            )
        if self.xid_age > XID_AGE_WARNING:
            return CheckResult(
                "xid_age", CheckStatus.WARNING, summary + f" (over {XID_AGE_WARNING:,})"
            )
        return CheckResult("xid_age", CheckStatus.OK, summary)

    def _indexes(self) -> CheckResult:
        if self.invalid_indexes:
            names = ", ".join(i.name for i in self.invalid_indexes)
            return CheckResult(
                "indexes",
                CheckStatus.WARNING,
                f"invalid index(es) {names}: they slow writes and serve no read; "
                "`chairside maintenance database` rebuilds them",
            )
        note = f"; {len(self.unused_indexes)} never scanned" if self.unused_indexes else ""
        return CheckResult("indexes", CheckStatus.OK, "every index is valid" + note)

    def to_dict(self) -> dict[str, Any]:
        return {
            "database": self.database,
            "xid_age": self.xid_age,
            "tables": [t.to_dict() for t in self.tables],
            "invalid_indexes": [i.to_dict() for i in self.invalid_indexes],
            "unused_indexes": [i.to_dict() for i in self.unused_indexes],
        }


def database_health(conn: Connection) -> DatabaseHealth:
    """Dead rows per table, transaction-ID age, invalid and never-scanned indexes.

    Reads statistics and the catalog only, never a table: sizes are pg_class's page
    counts (as of the last VACUUM or ANALYZE), because pg_relation_size would wait for
    a lock behind any schema change, and this must answer while one runs.
    """
    tables = [
        TableHealth(
            name=r.name,
            live_rows=int(r.n_live_tup),
            dead_rows=int(r.n_dead_tup),
            size_bytes=int(r.size),
            last_vacuum=r.last_vacuum,
            last_analyze=r.last_analyze,
        )
        for r in conn.execute(
            text(
                "SELECT schemaname || '.' || relname AS name, n_live_tup, n_dead_tup,"
                " (SELECT c.relpages::bigint * current_setting('block_size')::int"
                "  FROM pg_class c WHERE c.oid = relid) AS size,"
                " greatest(last_vacuum, last_autovacuum) AS last_vacuum,"
                " greatest(last_analyze, last_autoanalyze) AS last_analyze"
                " FROM pg_stat_user_tables ORDER BY n_dead_tup DESC, relname"
            )
        )
    ]
    indexes = [
        IndexNote(
            name=r.name,
            table=r.table_name,
            size_bytes=int(r.size),
            scans=int(r.idx_scan),
            valid=bool(r.indisvalid),
        )
        for r in conn.execute(
            text(
                "SELECT s.schemaname || '.' || s.indexrelname AS name,"
                " s.schemaname || '.' || s.relname AS table_name,"
                " (SELECT c.relpages::bigint * current_setting('block_size')::int"
                "  FROM pg_class c WHERE c.oid = s.indexrelid) AS size,"
                " s.idx_scan, i.indisvalid"
                " FROM pg_stat_user_indexes s JOIN pg_index i ON i.indexrelid = s.indexrelid"
                " WHERE NOT i.indisvalid"
                "  OR (s.idx_scan = 0 AND NOT i.indisunique AND NOT i.indisprimary)"
                " ORDER BY size DESC, name"
            )
        )
    ]
    database, xid_age = conn.execute(
        text(
            "SELECT datname, age(datfrozenxid) FROM pg_database WHERE datname = current_database()"
        )
    ).one()
    return DatabaseHealth(
        database=database,
        xid_age=int(xid_age),
        tables=tables,
        invalid_indexes=[i for i in indexes if not i.valid],
        unused_indexes=[i for i in indexes if i.valid],
    )


def _one_line(query: str, limit: int) -> str:
    flat = " ".join(query.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
