"""Watching the running cluster's WAL position: archive_timeout kept, the LSN clock fed.

``archive_timeout`` promises that written WAL reaches the archive within that many
seconds. After a crash restart PostgreSQL was seen to go minutes without a switch, so
the supervisor of ``chairside up`` keeps the promise itself: when the current segment
has held unarchived WAL for longer than ``archive_timeout`` plus a small grace, it
calls ``pg_switch_wal()``; and right after a restart it switches at once, so what was
written before the crash is archived now. Each tick also records a sample of the
current LSN (:mod:`.lsn_clock`), which is what makes the RPO in time exact to a second.
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
        self._lsn_clock: LsnClock | None = None

    def tick(self) -> bool:
        """Sample the LSN; switch when the current segment is older than archive_timeout."""
        if self.settings.wal_mode == "off":
            return False
        timeout = self.settings.wal_archive_timeout_seconds
        with self.connect() as conn:
            row = conn.execute(
                "SELECT pg_current_wal_lsn()::text, pg_walfile_name(pg_current_wal_lsn()),"
                " current_setting('wal_segment_size')::bigint,"
                " (SELECT system_identifier FROM pg_control_system())::text"
                " WHERE NOT pg_is_in_recovery()"
            ).fetchone()
            if row is None:
                return False
            lsn, segment, size, sysid = (
                parse_lsn(str(row[0])),
                str(row[1]),
                int(str(row[2])),
                row[3],
            )
            self._sample(str(sysid), lsn)
            now = self.clock()
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

    def _sample(self, cluster: str, lsn: int) -> None:
        if self._lsn_clock is None or self._lsn_clock.cluster != cluster:
            self._lsn_clock = LsnClock.for_settings(self.settings, cluster=cluster)
        self._lsn_clock.record(lsn)
