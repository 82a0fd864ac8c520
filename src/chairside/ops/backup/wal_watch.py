"""Watching the running cluster's WAL position: archive_timeout kept, the LSN clock fed.

``archive_timeout`` promises that written WAL reaches the archive within that many
seconds. After crash recovery PostgreSQL does not keep it at first: its checkpointer,
started during recovery, sleeps up to ``checkpoint_timeout`` (5 min) before it looks at
``archive_timeout`` again. So for ``checkpoint_timeout`` + ``archive_timeout`` after a
(re)start, the supervisor of ``chairside up`` keeps the promise itself: when the current
segment has held WAL for longer than ``archive_timeout`` plus a second, it calls
``pg_switch_wal()``; and right after a restart it switches at once, so what was written
before the crash is archived now. Only in that window: a switch requested by SQL counts
as activity (the next standby snapshot lands in the new segment), so doing it on an idle
server for ever would archive a segment every ``archive_timeout``, which PostgreSQL's own
timer (that marks its switches unimportant) never does. Each tick also records a sample
of the current LSN (:mod:`.lsn_clock`), which is what makes the RPO in time exact to a
second.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import psycopg

from chairside.config import Settings
from chairside.ops.backup.lsn_clock import LsnClock
from chairside.ops.backup.walarchive import parse_lsn

Connect = Callable[[], psycopg.Connection[tuple[Any, ...]]]
GRACE_SECONDS = 1.0


class WalWatch:
    """One tick a second from the supervisor; switches WAL when archive_timeout lapses."""

    def __init__(
        self, settings: Settings, *, connect: Connect, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.settings = settings
        self.connect = connect
        self.clock = clock
        self.segment: str | None = None
        self.segment_since = 0.0
        self.switches = 0
        self.active_until: float | None = None  # end of the window after a (re)start
        self._lsn_clock: LsnClock | None = None

    def tick(self) -> bool:
        """Sample the LSN; switch when the current segment is older than archive_timeout."""
        if self.settings.wal_mode == "off":
            return False
        timeout = self.settings.wal_archive_timeout_seconds
        with self.connect() as conn:
            row = conn.execute(
                "SELECT pg_current_wal_lsn()::text, pg_walfile_name(pg_current_wal_lsn()),"
                # current_setting() says '16MB'; pg_settings has the bytes.
                " (SELECT setting::bigint FROM pg_settings WHERE name = 'wal_segment_size'),"
                " (SELECT system_identifier FROM pg_control_system())::text,"
                " extract(epoch FROM current_setting('checkpoint_timeout')::interval)::int"
                " WHERE NOT pg_is_in_recovery()"
            ).fetchone()
            if row is None:
                return False
            lsn, segment, size = parse_lsn(str(row[0])), str(row[1]), int(str(row[2]))
            self._sample(str(row[3]), lsn)
            now = self.clock()
            if self.active_until is None:
                self.active_until = now + int(str(row[4])) + timeout + 10
            if now > self.active_until:
                return False  # PostgreSQL's own archive_timeout works again
            if segment != self.segment:
                self.segment, self.segment_since = segment, now
            written = lsn % size != 0  # a switch leaves the position at a segment start
            if timeout > 0 and written and now - self.segment_since > timeout + GRACE_SECONDS:
                conn.execute("SELECT pg_switch_wal()")
                self.switches += 1
                self.segment = None
                return True
        return False

    def after_restart(self) -> None:
        """Archive what the crashed server wrote last: switch as soon as it is back."""
        if self.settings.wal_mode == "off":
            return
        with self.connect() as conn:
            conn.execute("SELECT pg_switch_wal() WHERE NOT pg_is_in_recovery()")
        self.switches += 1
        self.segment = None
        self.active_until = None  # a new window, measured from the next tick

    def _sample(self, cluster: str, lsn: int) -> None:
        if self._lsn_clock is None or self._lsn_clock.cluster != cluster:
            self._lsn_clock = LsnClock.for_settings(self.settings, cluster=cluster)
        self._lsn_clock.record(lsn)
