"""Reads that may lag: served by a replica within a lag bound, otherwise by the leader.

Search and availability may show a moment-old picture: a booking decides on the leader
(the exclusion constraint there judges every write), so a slot a lagging replica still
offers ends in a 409, never in a double booking. Everything else reads and writes on the
leader.

A replica connection (``CHAIRSIDE_DATABASE_READ_URL``, e.g. HAProxy's read port, whose
own check already drops replicas too many bytes behind) is used only while the replica's
replay lag is at most ``CHAIRSIDE_REPLICA_MAX_LAG_SECONDS``. Lag is what the replica
itself knows: 0 when it has replayed everything it received, else the age of the last
transaction it replayed. Each pooled connection measures it at most every
``LAG_RECHECK_SECONDS``. A replica that cannot be reached, or fails mid-read, hands the
read to the leader.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from prometheus_client import CollectorRegistry, Counter
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from chairside.db import transaction

T = TypeVar("T")
log = logging.getLogger("chairside.replica_reads")

LAG_RECHECK_SECONDS = 0.5
_LAG = text(
    """
    SELECT CASE
        WHEN NOT pg_is_in_recovery() THEN 0
        WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
        ELSE COALESCE(EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()), 1e9)
    END
    """
)


class ReplicaReads:
    """Runs lag-tolerant reads on a replica within the bound, else on the leader."""

    def __init__(
        self,
        *,
        leader: sessionmaker[Session],
        replica: Engine | None,
        max_lag_seconds: float,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self._leader = leader
        self._replica = replica
        self.max_lag_seconds = max_lag_seconds
        self._served = Counter(
            "chairside_lag_tolerant_reads",
            "Reads that may lag (search, availability), by who served them.",
            ["served_by"],
            registry=registry,
        )

    @property
    def configured(self) -> bool:
        return self._replica is not None

    def run(self, work: Callable[[Session], T]) -> tuple[T, bool]:
        """``work(session)`` in a read transaction; True when a replica served it."""
        connection = self._replica_connection()
        if connection is not None:
            try:
                with connection, Session(bind=connection, expire_on_commit=False) as session:
                    with session.begin():
                        result = work(session)
                self._served.labels("replica").inc()
                return result, True
            except DBAPIError as exc:
                if not exc.connection_invalidated and not _is_disconnect(exc):
                    raise
                log.warning("replica read failed; reading on the leader", extra={"error": str(exc)})
        with transaction(self._leader) as session:
            result = work(session)
        self._served.labels("leader").inc()
        return result, False

    def dispose(self) -> None:
        if self._replica is not None:
            self._replica.dispose()

    def _replica_connection(self) -> Connection | None:
        """A pooled replica connection whose replica is within the bound, or None."""
        if self._replica is None:
            return None
        try:
            connection = self._replica.connect()
        except DBAPIError:
            return None  # no replica behind the read port right now
        try:
            lag = _lag_seconds(connection)
        except DBAPIError:
            connection.invalidate()
            connection.close()
            return None
        if lag > self.max_lag_seconds:
            connection.close()
            return None
        return connection


def _lag_seconds(connection: Connection) -> float:
    """The replica's replay lag, measured at most every LAG_RECHECK_SECONDS per connection."""
    info = connection.info
    now = time.monotonic()
    checked = info.get("replica_lag_checked_at")
    if isinstance(checked, float) and now - checked < LAG_RECHECK_SECONDS:
        return float(info["replica_lag"])
    lag = float(connection.execute(_LAG).scalar_one())
    connection.commit()  # end the autobegun transaction: the work opens its own
    info["replica_lag"] = lag
    info["replica_lag_checked_at"] = now
    return lag


def _is_disconnect(exc: DBAPIError) -> bool:
    # psycopg's OperationalError: the server closed the connection, it is not reachable.
    return type(exc.orig).__name__ in {"OperationalError", "InterfaceError"}
