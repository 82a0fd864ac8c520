"""Backends to look at: sessions that sleep, sit in a transaction, or just hold a slot.

Each holder is a real psycopg connection, run on a thread when it must stay busy, and
always closed at the end, so no test leaves a backend behind for the next one.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import psycopg
import pytest

from tests.cli.conftest import Run, cli  # noqa: F401 - the `cli` fixture, shared


@dataclass
class Sleeper:
    """A session running ``pg_sleep`` on a thread; what ended its statement, if anything."""

    pid: int
    conn: psycopg.Connection[tuple[object, ...]]
    thread: threading.Thread | None = None
    errors: list[BaseException] = field(default_factory=list)
    statements: int = 0

    def is_alive(self) -> bool:
        return self.thread is not None and self.thread.is_alive()


class Backends:
    """Opens sessions against one database and closes them all afterwards."""

    def __init__(self, conninfo: str) -> None:
        self.conninfo = conninfo
        self.opened: list[psycopg.Connection[tuple[object, ...]]] = []
        self.sleepers: list[Sleeper] = []

    def connect(
        self, application: str = "chairside-test"
    ) -> psycopg.Connection[tuple[object, ...]]:
        conn = psycopg.connect(self.conninfo, application_name=application, autocommit=True)
        self.opened.append(conn)
        return conn

    def sleeper(
        self,
        *,
        application: str = "chairside-test-sleeper",
        seconds: float = 30,
        again: bool = False,
    ) -> Sleeper:
        """A session busy in ``pg_sleep(seconds)``; with ``again`` it starts a new sleep
        when the first is cancelled (a backend that moved on to its next statement)."""
        conn = self.connect(application)
        pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]  # type: ignore[index]
        sleeper = Sleeper(pid=int(pid), conn=conn)  # type: ignore[arg-type]

        def run() -> None:
            for _ in range(2 if again else 1):
                sleeper.statements += 1
                try:
                    conn.execute("SELECT pg_sleep(%s)", (seconds,))
                    return
                except psycopg.Error as exc:
                    sleeper.errors.append(exc)
                    if not again or conn.closed:
                        return

        sleeper.thread = threading.Thread(target=run, daemon=True)
        sleeper.thread.start()
        self.sleepers.append(sleeper)
        self.wait_for(lambda: self.state(pid) == "active")
        return sleeper

    def state(self, pid: int) -> str | None:
        with psycopg.connect(self.conninfo, autocommit=True) as conn:
            row = conn.execute(
                "SELECT state FROM pg_stat_activity WHERE pid = %s", (pid,)
            ).fetchone()
        return None if row is None else str(row[0])

    def wait_for(self, condition: Callable[[], bool], timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError("condition not met in time")
            time.sleep(0.05)

    def close(self) -> None:
        with psycopg.connect(self.conninfo, autocommit=True) as admin:
            for conn in self.opened:
                if not conn.closed:
                    admin.execute("SELECT pg_terminate_backend(%s)", (conn.info.backend_pid,))
        # A thread still inside libpq must return before its socket is closed: the fd
        # number would be reused by the next connection and read by the wrong reader.
        for sleeper in self.sleepers:
            if sleeper.thread is not None:
                sleeper.thread.join(10)
        for conn in self.opened:
            conn.close()


@pytest.fixture
def backends(database_url: str) -> Iterator[Backends]:
    holder = Backends(database_url.replace("postgresql+psycopg://", "postgresql://", 1))
    yield holder
    holder.close()
