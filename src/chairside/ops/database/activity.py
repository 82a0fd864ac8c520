"""What the application database is doing now: connections, long-running queries, and
stopping the ones that must stop (the runbooks' "database connection issues").

Everything here reads ``pg_stat_activity`` of the database Chairside uses. Stopping a
query is done by identity, not by a fresh search: each target is a
:class:`LongQuery` found by the plan, and a backend is signalled only while it still runs
the very same statement (same pid, same backend start, same query start). A backend that
finished and moved on between the plan and the kill is left alone and reported as gone.
"""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError

from chairside.checks import CheckResult, CheckStatus
from chairside.config import Settings
from chairside.durations import describe
from chairside.errors import OperationFailedError
from chairside.ops.database.connection import app_database
from chairside.ops.locks import named_lock
from chairside.ops.timeline.store import open_ops_store

# The runbook's threshold: more than 80% of max_connections in use is trouble.
CONNECTIONS_WARNING = 0.80
CONNECTIONS_CRITICAL = 0.95

# Client programs whose long statements are the job, not the problem: a logical backup
# runs one transaction for its whole length. Stopped only with include_protected.
PROTECTED_APPLICATIONS = ("pg_dump", "pg_dumpall", "pg_restore")

QUERY_TEXT_LIMIT = 500


@dataclass(frozen=True)
class ConnectionUsage:
    """Connections to the server against its limit, and who holds them."""

    total: int
    max_connections: int
    reserved: int
    by_state: dict[str, int]
    by_application: dict[str, int]
    by_database: dict[str, int]
    oldest_idle_in_transaction_seconds: float | None

    @property
    def usable(self) -> int:
        """Connections ordinary roles may open (superuser_reserved_connections excluded)."""
        return max(self.max_connections - self.reserved, 1)

    @property
    def fraction_used(self) -> float:
        return self.total / self.usable

    def check(self) -> CheckResult:
        """Critical above 95% of the usable connections, warning above 80%."""
        percent = round(self.fraction_used * 100, 1)
        summary = f"{self.total} of {self.usable} usable connections in use ({percent}%)"
        if self.fraction_used > CONNECTIONS_CRITICAL:
            status = CheckStatus.CRITICAL
            summary += "; new clients are about to be refused: find who holds them below"
        elif self.fraction_used > CONNECTIONS_WARNING:
            status = CheckStatus.WARNING
            summary += f"; over the {CONNECTIONS_WARNING:.0%} threshold"
        else:
            status = CheckStatus.OK
        return CheckResult("connections", status, summary, details=self.to_dict())

    def to_dict(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "max_connections": self.max_connections,
            "reserved": self.reserved,
            "usable": self.usable,
            "percent_used": round(self.fraction_used * 100, 1),
            "by_state": self.by_state,
            "by_application": self.by_application,
            "by_database": self.by_database,
            "oldest_idle_in_transaction_seconds": self.oldest_idle_in_transaction_seconds,
        }


def connection_usage(conn: Connection) -> ConnectionUsage:
    """Client connections of the whole server (the limit is the server's, not a database's)."""
    rows = conn.execute(
        text(
            "SELECT coalesce(state, 'unknown') AS state,"
            " coalesce(nullif(application_name, ''), '(none)') AS application,"
            " coalesce(datname, '(none)') AS database,"
            " CASE WHEN state LIKE 'idle in transaction%'"
            "  THEN extract(epoch FROM now() - xact_start) END AS idle_tx_seconds"
            " FROM pg_stat_activity WHERE backend_type = 'client backend'"
        )
    ).all()
    limits = {
        str(name): int(value)
        for name, value in conn.execute(
            text(
                "SELECT name, setting FROM pg_settings"
                " WHERE name IN ('max_connections', 'superuser_reserved_connections')"
            )
        )
    }
    idle_tx = [float(r.idle_tx_seconds) for r in rows if r.idle_tx_seconds is not None]
    return ConnectionUsage(
        total=len(rows),
        max_connections=int(limits["max_connections"]),
        reserved=int(limits.get("superuser_reserved_connections", 0)),
        by_state=_count(r.state for r in rows),
        by_application=_count(r.application for r in rows),
        by_database=_count(r.database for r in rows),
        oldest_idle_in_transaction_seconds=max(idle_tx, default=None),
    )


@dataclass(frozen=True)
class LongQuery:
    """A backend that has been busy (or holding a transaction open) for too long."""

    pid: int
    user: str | None
    application: str
    client: str | None
    state: str
    backend_start: datetime
    query_start: datetime | None
    xact_start: datetime | None
    age_seconds: float
    wait: str | None
    query: str

    @property
    def protected(self) -> bool:
        return self.application.startswith(PROTECTED_APPLICATIONS)

    def to_dict(self) -> dict[str, Any]:
        return {
            "pid": self.pid,
            "user": self.user,
            "application": self.application,
            "client": self.client,
            "state": self.state,
            "backend_start": self.backend_start.isoformat(),
            "query_start": self.query_start.isoformat() if self.query_start else None,
            "xact_start": self.xact_start.isoformat() if self.xact_start else None,
            "age_seconds": round(self.age_seconds, 1),
            "wait": self.wait,
            "protected": self.protected,
            "query": self.query,
        }


# The age that matters: how long the statement has run, or for a session sitting idle
# inside a transaction, how long that transaction has held its locks and snapshot.
_AGE = "now() - CASE WHEN state LIKE 'idle in transaction%' THEN xact_start ELSE query_start END"


def long_running(conn: Connection, *, older_than: timedelta) -> list[LongQuery]:
    """Client backends of this database, other than ours, busy for longer than ``older_than``.

    Busy means running a statement (``active``) or idle inside an open transaction;
    oldest first.
    """
    rows = conn.execute(
        text(
            "SELECT pid, usename, coalesce(application_name, '') AS application,"
            " host(client_addr) AS client, state, backend_start, query_start, xact_start,"
            f" extract(epoch FROM {_AGE}) AS age_seconds,"
            " CASE WHEN wait_event IS NOT NULL THEN wait_event_type || ':' || wait_event END"
            "  AS wait,"
            " left(query, :limit) AS query"
            " FROM pg_stat_activity"
            " WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()"
            " AND datname = current_database()"
            " AND (state = 'active' OR state LIKE 'idle in transaction%')"
            f" AND {_AGE} > :older_than"
            " ORDER BY age_seconds DESC"
        ),
        {"older_than": older_than, "limit": QUERY_TEXT_LIMIT},
    ).all()
    return [
        LongQuery(
            pid=r.pid,
            user=r.usename,
            application=r.application,
            client=r.client,
            state=r.state,
            backend_start=r.backend_start,
            query_start=r.query_start,
            xact_start=r.xact_start,
            age_seconds=float(r.age_seconds),
            wait=r.wait,
            query=r.query or "",
        )
        for r in rows
    ]


def long_running_check(found: list[LongQuery], *, older_than: timedelta) -> CheckResult:
    """Warning when anything has been busy longer than ``older_than``."""
    older = describe(older_than)
    if not found:
        return CheckResult("long_running", CheckStatus.OK, f"nothing busy for more than {older}")
    oldest = found[0]
    return CheckResult(
        "long_running",
        CheckStatus.WARNING,
        f"{len(found)} backend(s) busy for more than {older}; the oldest, pid {oldest.pid}"
        f" ({oldest.state}, {oldest.application or 'no application name'}), for"
        f" {oldest.age_seconds:.0f} s; stop them with `chairside db kill-long-running`",
    )


class StopMode(enum.StrEnum):
    """How a backend is stopped: cancel its statement, or end its whole session."""

    CANCEL = "cancel"
    TERMINATE = "terminate"

    @property
    def call(self) -> str:
        """The SQL call; terminating waits (up to 5 s) until the backend has exited."""
        return (
            "pg_cancel_backend(pid)"
            if self is StopMode.CANCEL
            else "pg_terminate_backend(pid, 5000)"
        )


@dataclass
class KillReport:
    """What ``kill-long-running`` found, stopped, skipped and left alone."""

    older_than: timedelta
    mode: StopMode
    dry_run: bool
    targets: list[LongQuery] = field(default_factory=list)
    protected: list[LongQuery] = field(default_factory=list)
    stopped: list[int] = field(default_factory=list)
    gone: list[int] = field(default_factory=list)

    def describe(self) -> str:
        verb = "cancel" if self.mode is StopMode.CANCEL else "terminate"
        older = describe(self.older_than)
        if not self.targets:
            return f"no query older than {older} to {verb}"
        return f"{verb} {len(self.targets)} backend(s) busy for more than {older}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "older_than_seconds": self.older_than.total_seconds(),
            "mode": self.mode.value,
            "dry_run": self.dry_run,
            "targets": [q.to_dict() for q in self.targets],
            "protected": [q.to_dict() for q in self.protected],
            "stopped": self.stopped,
            "gone": self.gone,
        }


def kill_long_running(
    settings: Settings,
    *,
    older_than: timedelta,
    mode: StopMode = StopMode.TERMINATE,
    include_protected: bool = False,
    dry_run: bool = False,
    confirm: Callable[[KillReport], None] = lambda report: None,
) -> KillReport:
    """Stop this database's backends busy for longer than ``older_than``.

    ``confirm`` sees the plan first and raises to refuse. Backups (``pg_dump`` and its
    kin) are left alone unless ``include_protected``. Recorded as a ``db.kill`` ops event.
    """
    with (
        named_lock(settings.home, "db-kill", purpose="kill long-running queries"),
        app_database(settings) as conn,
    ):
        found = long_running(conn, older_than=older_than)
        # pg_stat_activity is a snapshot taken once per transaction: end this one, or
        # every check below would see the plan's moment, not the moment of the kill.
        conn.rollback()
        report = KillReport(older_than=older_than, mode=mode, dry_run=dry_run)
        for query in found:
            keep = query.protected and not include_protected
            (report.protected if keep else report.targets).append(query)
        if dry_run or not report.targets:
            return report
        confirm(report)
        for query in report.targets:
            stopped = _stop(conn, query, mode)
            (report.stopped if stopped else report.gone).append(query.pid)
    open_ops_store(settings).record(
        "db.kill",
        f"{report.describe()}: {len(report.stopped)} stopped, {len(report.gone)} already gone",
        details=report.to_dict(),
    )
    return report


def _stop(conn: Connection, query: LongQuery, mode: StopMode) -> bool:
    """Signal ``query``'s backend if it still runs that statement; True when signalled."""
    try:
        signalled = conn.execute(
            text(
                f"SELECT {mode.call} FROM pg_stat_activity"
                " WHERE pid = :pid AND backend_start = :backend_start"
                " AND query_start IS NOT DISTINCT FROM :query_start"
            ),
            {
                "pid": query.pid,
                "backend_start": query.backend_start,
                "query_start": query.query_start,
            },
        ).scalar()
        conn.commit()
    except DBAPIError as exc:
        raise OperationFailedError(
            f"could not {mode.value} backend {query.pid}: {exc.orig}; the database role needs"
            " to be a superuser or a member of pg_signal_backend"
        ) from None
    return bool(signalled)


def _count(values: Iterable[str]) -> dict[str, int]:
    return dict(Counter(values).most_common())
