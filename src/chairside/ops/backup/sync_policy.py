"""Synchronous mode with a declared policy for a missing receiver (as Patroni's modes).

In sync mode (``CHAIRSIDE_WAL_MODE=sync``) ``synchronous_standby_names`` names
Chairside's receiver, so a commit returns only once the receiver has flushed it. When
the receiver is gone, ``CHAIRSIDE_WAL_SYNC_POLICY`` decides:

- ``strict``: commits wait (nothing acknowledged can be lost); the health check is
  critical at once and an alert is raised;
- ``fallback`` (default): after ``CHAIRSIDE_WAL_SYNC_FALLBACK_SECONDS`` without a
  synchronous receiver the setting is cleared (``ALTER SYSTEM``, reload), which releases
  the waiting commits; an alert says so and the RPO shown grows. When the receiver is
  streaming again the setting is restored and another alert says so.

:class:`SyncPolicyGuard` applies it, one :meth:`~SyncPolicyGuard.tick` at a time: in the
supervisor of ``chairside up`` (every second) or in ``chairside wal sync-guard`` next to
a server Chairside does not run. What it cleared is remembered in
``$CHAIRSIDE_HOME/run/sync-fallback.json`` so a restarted guard (or the health check)
knows the fallback is active.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg

from chairside.config import Settings
from chairside.ops.backup.replication import RECEIVER_NAME, read_replication
from chairside.ops.notify.base import Severity

Alert = Callable[[str, str, Severity, dict[str, Any]], None]
Connect = Callable[[], psycopg.Connection[tuple[Any, ...]]]


def fallback_state_file(settings: Settings) -> Path:
    return settings.run_dir / "sync-fallback.json"


def fallback_since(settings: Settings) -> float | None:
    """When the fallback cleared the synchronous receiver (None: not in fallback)."""
    try:
        return float(json.loads(fallback_state_file(settings).read_text())["since"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


class SyncPolicyGuard:
    """Watches the synchronous receiver and applies the declared policy."""

    def __init__(
        self,
        settings: Settings,
        *,
        connect: Connect,
        alert: Alert,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.connect = connect
        self.alert = alert
        self.clock = clock
        self.missing_since: float | None = None
        self._alerted_blocked = False

    def tick(self) -> str | None:
        """Look once and act; returns what was done (``fallback``, ``restored``, …)."""
        if self.settings.wal_mode != "sync":
            return None
        with self.connect() as conn:
            facts = read_replication(lambda sql: conn.execute(sql.encode()).fetchall())
            if facts is None:
                return None
            if facts.synchronous_named:
                if facts.synchronous_receiver is not None:
                    self.missing_since = None
                    self._alerted_blocked = False
                    return self._restored(conn, named=True)
                return self._missing(conn, facts.synchronous_standby_names)
            self.missing_since = None
            if facts.receiver() is not None:
                return self._restored(conn, named=False)
        return None

    def _restored(self, conn: psycopg.Connection[tuple[Any, ...]], *, named: bool) -> str | None:
        """After a fallback, the receiver streams again: make commits wait for it again."""
        since = fallback_since(self.settings)
        if since is None:
            return None
        if not named:
            _set_standby(conn, RECEIVER_NAME)
        fallback_state_file(self.settings).unlink(missing_ok=True)
        self.alert(
            "wal.sync.restored",
            f"synchronous WAL receiver {RECEIVER_NAME} is back: commits wait for it again "
            f"(asynchronous for {time.time() - since:.0f} s)",
            Severity.OK,
            {"fallback_seconds": round(time.time() - since, 1)},
        )
        return "restored"

    def _missing(self, conn: psycopg.Connection[tuple[Any, ...]], names: str) -> str | None:
        now = self.clock()
        if self.missing_since is None:
            self.missing_since = now
        waited = now - self.missing_since
        if self.settings.wal_sync_policy == "strict":
            if not self._alerted_blocked:
                self._alerted_blocked = True
                self.alert(
                    "wal.sync.blocked",
                    f"no synchronous WAL receiver ({names}) is connected: every commit waits "
                    "until it is back (CHAIRSIDE_WAL_SYNC_POLICY=strict); start `chairside "
                    "wal stream --synchronous`",
                    Severity.CRITICAL,
                    {"synchronous_standby_names": names},
                )
                return "blocked"
            return None
        if waited < self.settings.wal_sync_fallback_seconds:
            return None
        _set_standby(conn, "")
        path = fallback_state_file(self.settings)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"since": time.time(), "cleared": names}))
        self.missing_since = None
        self.alert(
            "wal.sync.fallback",
            f"no synchronous WAL receiver for {waited:.0f} s: synchronous_standby_names "
            f"cleared so commits go on without it (CHAIRSIDE_WAL_SYNC_POLICY=fallback); the "
            "RPO grows until the receiver is back",
            Severity.WARNING,
            {"cleared": names, "waited_seconds": round(waited, 1)},
        )
        return "fallback"


def _set_standby(conn: psycopg.Connection[tuple[Any, ...]], name: str) -> None:
    if name:
        conn.execute(f"ALTER SYSTEM SET synchronous_standby_names = '{name}'".encode())
        conn.execute("ALTER SYSTEM SET synchronous_commit = 'on'")
    else:
        conn.execute("ALTER SYSTEM RESET synchronous_standby_names")
    conn.execute("SELECT pg_reload_conf()")
