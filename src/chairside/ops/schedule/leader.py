"""Leadership: only one scheduler runs jobs at a time.

Production (``DATABASE_URL`` set) may run a scheduler on every host, so the lock must be
one every host sees: a session-level PostgreSQL advisory lock on the application
database, taken with ``pg_try_advisory_lock`` on a connection of its own and held for as
long as that connection stays open. If the connection drops (the database restarted, a
network split), PostgreSQL releases the lock, another host may take over, and this one
notices at its next :meth:`LeaderLock.still_held` and stops starting jobs. An unreachable
database means "not leader": leading without the lock could make two leaders.

The embedded default is one host by construction and its database may be the thing a
restore is rewinding, so there the lock is a file lock under ``$CHAIRSIDE_HOME/locks``
(see :mod:`chairside.ops.locks`), which the kernel drops when the process dies.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
from typing import Protocol

import psycopg
from sqlalchemy.engine import make_url

from chairside.config import Settings
from chairside.db import database_url
from chairside.ops.locks import lock_path

LOCK_NAME = "chairside.schedule.leader"
# pg advisory locks take a signed 64-bit key; derive a fixed one from the lock's name.
ADVISORY_KEY = int.from_bytes(hashlib.sha256(LOCK_NAME.encode()).digest()[:8], "big", signed=True)


class LeaderLock(Protocol):
    """A lock at most one scheduler holds."""

    def try_acquire(self) -> bool:
        """Take the lock if free; True when this scheduler now leads."""

    def still_held(self) -> bool:
        """True while the lock is held (False once the session behind it is gone)."""

    def release(self) -> None:
        """Give the lock up (a no-op when not held)."""

    def describe(self) -> str:
        """What the lock is, for messages."""


class AdvisoryLeaderLock:
    """A session-level PostgreSQL advisory lock on a dedicated connection."""

    def __init__(self, conninfo: str, *, key: int = ADVISORY_KEY) -> None:
        self._conninfo = conninfo
        self._key = key
        self._conn: psycopg.Connection[tuple[object, ...]] | None = None
        self.last_error: str | None = None

    def try_acquire(self) -> bool:
        if self._conn is not None and self.still_held():
            return True
        try:
            conn = psycopg.connect(
                self._conninfo,
                autocommit=True,
                connect_timeout=5,
                application_name="chairside-scheduler",
            )
        except psycopg.Error as exc:
            self.last_error = f"cannot reach the database: {str(exc).strip()}"
            return False
        row = conn.execute("SELECT pg_try_advisory_lock(%s)", (self._key,)).fetchone()
        if not (row and row[0]):
            conn.close()
            self.last_error = "another scheduler holds the leader lock"
            return False
        self._conn = conn
        self.last_error = None
        return True

    def still_held(self) -> bool:
        if self._conn is None:
            return False
        try:
            # A session-level lock lives exactly as long as its session: a live
            # connection still holds it.
            self._conn.execute("SELECT 1")
        except psycopg.Error as exc:
            self.last_error = f"lost the database session holding the lock: {str(exc).strip()}"
            self._drop()
            return False
        return True

    def release(self) -> None:
        if self._conn is None:
            return
        try:
            self._conn.execute("SELECT pg_advisory_unlock(%s)", (self._key,))
        except psycopg.Error:
            pass  # the session is gone, and the lock with it
        self._drop()

    def describe(self) -> str:
        where = make_url(self._conninfo).render_as_string(hide_password=True)
        return f"PostgreSQL advisory lock {self._key} on {where}"

    def _drop(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None


class FileLeaderLock:
    """An exclusive ``flock`` under ``$CHAIRSIDE_HOME/locks`` (one host only)."""

    def __init__(self, settings: Settings) -> None:
        self._path = lock_path(settings.home, LOCK_NAME)
        self._fd: int | None = None
        self.last_error: str | None = None

    def try_acquire(self) -> bool:
        if self._fd is not None:
            return True
        self._path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            self.last_error = "another scheduler on this host holds the leader lock"
            return False
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._fd = fd
        self.last_error = None
        return True

    def still_held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        if self._fd is None:
            return
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None

    def describe(self) -> str:
        return f"file lock {self._path}"


def leader_lock(settings: Settings) -> AdvisoryLeaderLock | FileLeaderLock:
    """The leader lock these settings call for: advisory with DATABASE_URL, else a file."""
    if settings.embedded:
        return FileLeaderLock(settings)
    url = make_url(database_url(settings)).set(drivername="postgresql")
    return AdvisoryLeaderLock(url.render_as_string(hide_password=False))
