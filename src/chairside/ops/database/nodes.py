"""Every PostgreSQL node of the topology, for the commands that must look at each one.

A replica's statistics are its own: ``pg_stat_activity`` lists the sessions on that
node, ``pg_stat_user_indexes`` counts the scans that node served, its replay lag is
its own. So with a topology (``CHAIRSIDE_TOPOLOGY``), ``db connections``,
``db long-running``, ``db bloat`` and ``maintenance database`` read each node, with
the credentials and database of ``DATABASE_URL`` at the node's own address from the
topology. What changes the database (VACUUM, REINDEX, stopping a query) still goes to
``DATABASE_URL``: the leader, through HAProxy's write port.

Without a topology there is one node, ``DATABASE_URL`` itself, and the commands answer
as they always did.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import SecretStr
from sqlalchemy import Connection, create_engine, pool, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from chairside.checks import CheckResult, CheckStatus
from chairside.config import Settings
from chairside.db import database_url
from chairside.errors import InputError
from chairside.topology.file import load_topology

T = TypeVar("T")

CONNECT_TIMEOUT_SECONDS = 3

_ROLE = text(
    """
    SELECT pg_is_in_recovery() AS replica,
        CASE
            WHEN NOT pg_is_in_recovery() THEN 0
            WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
            ELSE EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp())
        END AS lag_seconds,
        CASE
            WHEN NOT pg_is_in_recovery() THEN 0
            ELSE pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())
        END AS lag_bytes
    """
)


@dataclass(frozen=True)
class DatabaseNode:
    """One PostgreSQL server to read statistics from."""

    name: str
    url: str

    @property
    def address(self) -> str:
        url = make_url(self.url)
        return f"{url.host}:{url.port or 5432}"


@dataclass(frozen=True)
class NodeReading(Generic[T]):
    """What one node answered (``value``), its role and lag, or why it did not answer."""

    node: str
    address: str
    role: str | None  # "leader" or "replica"; None when unreachable
    lag_seconds: float | None
    lag_bytes: int | None
    value: T | None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "node": self.node,
            "address": self.address,
            "role": self.role,
            "lag_seconds": None if self.lag_seconds is None else round(self.lag_seconds, 3),
            "lag_bytes": self.lag_bytes,
            "error": self.error,
        }

    def unreachable_check(self, check: str) -> CheckResult:
        """The critical result of a node that did not answer."""
        return CheckResult(
            f"{check}:{self.node}",
            CheckStatus.CRITICAL,
            f"{self.node} ({self.address}) did not answer: {self.error}",
        )


def has_topology(settings: Settings) -> bool:
    """True when the commands should read every node rather than DATABASE_URL alone."""
    return settings.topology is not None


def database_nodes(settings: Settings) -> list[DatabaseNode]:
    """Each node of the topology at its own address, or DATABASE_URL alone without one."""
    url = database_url(settings)
    if settings.topology is None:
        return [DatabaseNode("database", url)]
    base = make_url(url)
    return [
        DatabaseNode(
            node.name,
            base.set(host=node.host, port=node.port).render_as_string(hide_password=False),
        )
        for node in load_topology(settings.topology).postgres.nodes
    ]


def settings_for_node(settings: Settings, name: str) -> Settings:
    """``settings`` with DATABASE_URL at the topology's node ``name`` (to act on that node
    alone, e.g. stop a runaway query on a replica)."""
    if settings.topology is None:
        raise InputError(
            f"--node {name}: no topology; set CHAIRSIDE_TOPOLOGY to name its nodes",
            field="node",
        )
    nodes = {node.name: node for node in database_nodes(settings)}
    if name not in nodes:
        raise InputError(
            f"--node {name!r} is not a PostgreSQL node of the topology; allowed: "
            + ", ".join(nodes),
            field="node",
        )
    return settings.model_copy(update={"database_url": SecretStr(nodes[name].url)})


def read_each_node(settings: Settings, read: Callable[[Connection], T]) -> list[NodeReading[T]]:
    """``read`` run on every node, one after the other; a node that fails is reported,
    not fatal (the others still answer)."""
    return [_read(node, read) for node in database_nodes(settings)]


def _read(node: DatabaseNode, read: Callable[[Connection], T]) -> NodeReading[T]:
    engine = create_engine(
        node.url,
        poolclass=pool.NullPool,
        connect_args={"connect_timeout": CONNECT_TIMEOUT_SECONDS},
    )
    try:
        with engine.connect() as conn:
            row = conn.execute(_ROLE).one()
            conn.rollback()
            value = read(conn)
    except DBAPIError as exc:
        first = str(exc.orig).strip().splitlines()
        return NodeReading(
            node.name, node.address, None, None, None, None, first[0] if first else "no answer"
        )
    finally:
        engine.dispose()
    return NodeReading(
        node=node.name,
        address=node.address,
        role="replica" if row.replica else "leader",
        lag_seconds=None if row.lag_seconds is None else float(row.lag_seconds),
        lag_bytes=None if row.lag_bytes is None else int(row.lag_bytes),
        value=value,
    )


def replication_check(reading: NodeReading[Any], *, max_lag_seconds: float) -> CheckResult:
    """A replica's replay lag against the bound lag-tolerant reads use; a leader is ok."""
    name = f"replication:{reading.node}"
    if reading.role is None:
        return reading.unreachable_check("replication")
    if reading.role == "leader":
        return CheckResult(name, CheckStatus.OK, f"{reading.node} is the leader")
    if reading.lag_seconds is None:
        return CheckResult(
            name,
            CheckStatus.WARNING,
            f"{reading.node} is a replica that has replayed nothing yet",
        )
    summary = (
        f"{reading.node} is a replica, replay lag {reading.lag_seconds:.1f} s"
        f" ({reading.lag_bytes} bytes received, not replayed)"
    )
    if reading.lag_seconds > max_lag_seconds:
        return CheckResult(
            name,
            CheckStatus.WARNING,
            summary + f"; over the {max_lag_seconds:g} s bound, so lag-tolerant reads go to"
            " the leader",
        )
    return CheckResult(name, CheckStatus.OK, summary)


def per_node(results: list[CheckResult], node: str) -> list[CheckResult]:
    """``results`` renamed ``<check>:<node>``, so each node's figures stay apart."""
    return [
        CheckResult(
            f"{r.name}:{node}", r.status, r.summary, r.latency_ms, details=dict(r.details or {})
        )
        for r in results
    ]
