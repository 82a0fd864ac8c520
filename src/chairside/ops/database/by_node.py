"""The ``db`` checks read on every node of the topology: connections, long-running
queries, dead rows, transaction-ID age, index usage and replication lag, each node's
own (see :mod:`chairside.ops.database.nodes`).

Each node's results are named ``<check>:<node>`` (``connections:pg2``); a node that
does not answer is critical under its own name and the others still report.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Generic, TypeVar

from chairside.checks import CheckResult, CheckStatus
from chairside.config import Settings
from chairside.ops.database import activity, statistics
from chairside.ops.database.nodes import NodeReading, per_node, read_each_node, replication_check

T = TypeVar("T")


@dataclass(frozen=True)
class ByNode(Generic[T]):
    """Each node's reading and the check results judged from them."""

    readings: list[NodeReading[T]]
    results: list[CheckResult]
    describe: Callable[[T], dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        return {
            "nodes": [
                {**r.to_dict(), "figures": None if r.value is None else self.describe(r.value)}
                for r in self.readings
            ]
        }


def connections_by_node(settings: Settings) -> ByNode[activity.ConnectionUsage]:
    """Connections against max_connections on every node (each has its own limit)."""
    readings = read_each_node(settings, activity.connection_usage)
    results = [
        r.unreachable_check("connections")
        if r.value is None
        else per_node([r.value.check()], r.node)[0]
        for r in readings
    ]
    return ByNode(readings, results, lambda usage: usage.to_dict())


def long_running_by_node(
    settings: Settings, *, older_than: timedelta
) -> ByNode[list[activity.LongQuery]]:
    """Queries busy longer than ``older_than`` on every node: a report query on a replica
    holds back that replica's replay (or, with hot_standby_feedback, the leader's vacuum)."""
    readings = read_each_node(
        settings, lambda conn: activity.long_running(conn, older_than=older_than)
    )
    results = [
        r.unreachable_check("long_running")
        if r.value is None
        else per_node([activity.long_running_check(r.value, older_than=older_than)], r.node)[0]
        for r in readings
    ]
    return ByNode(readings, results, lambda found: {"queries": [q.to_dict() for q in found]})


def health_by_node(settings: Settings) -> ByNode[statistics.DatabaseHealth]:
    """Dead rows, xid age, indexes and replication lag on every node, and the indexes no
    node has scanned (an index idle on the leader may serve every read on a replica)."""
    readings = read_each_node(settings, statistics.database_health)
    results: list[CheckResult] = []
    for reading in readings:
        if reading.value is None:
            results.append(reading.unreachable_check("database"))
            continue
        results.append(replication_check(reading, max_lag_seconds=settings.replica_max_lag_seconds))
        results += per_node(reading.value.checks(), reading.node)
    results.append(_unused_everywhere(readings))
    return ByNode(readings, results, lambda health: health.to_dict())


def _unused_everywhere(readings: list[NodeReading[statistics.DatabaseHealth]]) -> CheckResult:
    answered = [r for r in readings if r.value is not None]
    if not answered:
        return CheckResult("unused_indexes", CheckStatus.UNKNOWN, "no node answered")
    unused = set.intersection(
        *({i.name for i in r.value.unused_indexes} for r in answered if r.value is not None)
    )
    nodes = ", ".join(r.node for r in answered)
    if not unused:
        return CheckResult(
            "unused_indexes", CheckStatus.OK, f"every index was scanned on some node ({nodes})"
        )
    return CheckResult(
        "unused_indexes",
        CheckStatus.OK,
        f"never scanned on any of {nodes}: {', '.join(sorted(unused))} (candidates to drop)",
        details={"indexes": sorted(unused)},
    )
