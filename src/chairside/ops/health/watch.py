"""The database watch: is PostgreSQL answering, asked twice a second on a connection of its own.

``/health``, ``/health/ready`` and the admission of every request read its last answer
instead of asking the database themselves, so a load balancer polling them costs nothing
and, when the database is gone, every route answers 503 at once instead of waiting for a
connection that cannot come. Its connection is outside the app's pool: a pool that is full
or waiting must not make the database look down, nor a dead database block the pool.

An answer older than ``stale_after`` seconds (the watch itself stuck on a connect that
hangs) counts as unreachable.

The same statement asks whether commits would wait for a synchronous standby that is not
connected (``synchronous_standby_names`` set, none of its receivers streaming in sync):
then the database answers reads but no write would return, so ``/health/ready`` takes
the worker out at once (docs/backup.md, "Synchronous mode"). A role that may not read
``pg_stat_replication`` gets NULL, treated as "not known to be blocked".
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

import psycopg
from sqlalchemy.engine import make_url

log = logging.getLogger("chairside.health")

INTERVAL_SECONDS = 0.5
CONNECT_TIMEOUT_SECONDS = 2  # libpq's smallest
STATEMENT_TIMEOUT_MS = 1000
# Would a commit wait for a synchronous standby that is not there? (NULL: not allowed to see)
_PROBE_SQL = """
SELECT CASE
  WHEN pg_is_in_recovery() OR current_setting('synchronous_standby_names') = ''
       OR current_setting('synchronous_commit') IN ('off', 'local') THEN false
  WHEN NOT pg_has_role(current_user, 'pg_read_all_stats', 'USAGE') THEN NULL
  ELSE NOT EXISTS (
    SELECT 1 FROM pg_stat_replication WHERE sync_state IN ('sync', 'quorum'))
END
"""


@dataclass(frozen=True)
class DatabaseState:
    """One answer of the watch."""

    reachable: bool
    checked_at: float  # time.monotonic()
    latency_ms: float | None = None
    error: str | None = None
    # Commits wait for a synchronous standby that is not connected.
    writes_blocked: bool = False

    def age_seconds(self) -> float:
        return time.monotonic() - self.checked_at


class DatabaseWatch:
    """Asks the database (:data:`_PROBE_SQL`) every ``interval`` seconds; keeps the answer."""

    def __init__(
        self, url: str, *, interval: float = INTERVAL_SECONDS, stale_after: float = 3.0
    ) -> None:
        self.conninfo = make_url(url).set(drivername="postgresql").render_as_string(False)
        self.interval = interval
        self.stale_after = stale_after
        self._conn: psycopg.Connection[tuple[object, ...]] | None = None
        self._state = DatabaseState(False, time.monotonic(), error="not checked yet")
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def state(self) -> DatabaseState:
        """The last answer; unreachable when it is older than ``stale_after``."""
        state = self._state
        if state.reachable and state.age_seconds() > self.stale_after:
            return DatabaseState(
                False, state.checked_at, error=f"no answer for {state.age_seconds():.1f} s"
            )
        return state

    def reachable(self) -> bool:
        return self.state().reachable

    def check_now(self) -> DatabaseState:
        """Ask now and keep the answer."""
        started = time.perf_counter()
        try:
            conn = self._connection()
            row = conn.execute(_PROBE_SQL).fetchone()
        except psycopg.Error as exc:
            self._close()
            message = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
            state = DatabaseState(False, time.monotonic(), error=message or type(exc).__name__)
            if self._state.reachable:
                log.warning("database unreachable", extra={"error": state.error})
        else:
            latency = round((time.perf_counter() - started) * 1000, 2)
            blocked = bool(row and row[0])
            state = DatabaseState(
                True, time.monotonic(), latency_ms=latency, writes_blocked=blocked
            )
            if not self._state.reachable:
                log.info("database reachable")
            if blocked and not self._state.writes_blocked:
                log.warning("commits wait for a synchronous standby that is not connected")
        self._state = state
        return state

    def start(self) -> None:
        """Check once now, then keep checking in the background until :meth:`stop`."""
        self.check_now()
        self._thread = threading.Thread(target=self._run, name="database-watch", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=CONNECT_TIMEOUT_SECONDS + 1)
        self._close()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.check_now()

    def _connection(self) -> psycopg.Connection[tuple[object, ...]]:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(
                self.conninfo,
                autocommit=True,
                connect_timeout=CONNECT_TIMEOUT_SECONDS,
                application_name="chairside-watch",
                options=f"-c statement_timeout={STATEMENT_TIMEOUT_MS}",
            )
        return self._conn

    def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except psycopg.Error:
                pass
