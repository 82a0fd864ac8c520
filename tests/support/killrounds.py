"""Losing the database machine on purpose: a steady writer, ``kill -9``, and a count.

Shared by the RPO tests (tests/ops/backup/test_rpo_kill.py) and the benchmark that
measures each mode's RPO (bench/dr/bench_rpo.py). A writer commits single-row
transactions at a steady rate and remembers every id PostgreSQL acknowledged and when;
``kill_postgres`` sends SIGKILL to the postmaster and all its children at once; after a
restore, ``count_loss`` says how many acknowledged commits the copy lacks and how much
time they span.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from chairside.runtime.postgres import PostgresCluster

TABLE = "rpo_probe"


@dataclass
class SteadyWriter:
    """Commits ``INSERT`` of ids 1, 2, ... at ``rate`` per second until the server dies."""

    conninfo: str
    rate: float = 100.0
    acked: dict[int, float] = field(default_factory=dict)  # id -> wall time of the ack
    error: str | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def prepare(self) -> None:
        with psycopg.connect(self.conninfo, autocommit=True) as conn:
            conn.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} (id bigint PRIMARY KEY)".encode())

    def start(self) -> None:
        self.prepare()
        self._thread = threading.Thread(target=self._run, name="steady-writer", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout)

    @property
    def last_acked(self) -> int:
        return max(self.acked, default=0)

    def _run(self) -> None:
        interval = 1.0 / self.rate
        try:
            with psycopg.connect(self.conninfo, autocommit=True, connect_timeout=5) as conn:
                next_at = time.monotonic()
                ident = 0
                while not self._stop.is_set():
                    ident += 1
                    conn.execute(f"INSERT INTO {TABLE} VALUES (%s)".encode(), (ident,))
                    self.acked[ident] = time.time()
                    next_at += interval
                    self._stop.wait(max(0.0, next_at - time.monotonic()))
        except psycopg.Error as exc:
            self.error = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)


def postgres_pids(cluster: PostgresCluster) -> list[int]:
    """The postmaster and every process whose parent it is."""
    postmaster = cluster.postmaster_pid()
    if postmaster is None:
        return []
    pids = [postmaster]
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == postmaster:
            pids.append(int(entry.name))
    return pids


def kill_postgres(cluster: PostgresCluster) -> float:
    """``kill -9`` the postmaster and all its children; returns the wall time of the kill."""
    pids = postgres_pids(cluster)
    assert pids, f"PostgreSQL in {cluster.data_dir} is not running"
    at = time.time()
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return at


@dataclass(frozen=True)
class Loss:
    """What a restore lacks of what the writer was told was committed."""

    acknowledged: int
    restored_max: int
    missing: int
    seconds: float  # from the newest restored commit's ack to the last acknowledged one

    def to_dict(self) -> dict[str, object]:
        return {
            "acknowledged": self.acknowledged,
            "restored_max": self.restored_max,
            "missing_acknowledged": self.missing,
            "lost_seconds": round(self.seconds, 3),
        }


def count_loss(writer: SteadyWriter, restored_conninfo: str) -> Loss:
    """Compare the restored table with the acknowledged ids."""
    with psycopg.connect(restored_conninfo, autocommit=True) as conn:
        rows = conn.execute(f"SELECT id FROM {TABLE}".encode()).fetchall()
    restored = {int(str(r[0])) for r in rows}
    acked = writer.acked
    missing = [i for i in acked if i not in restored]
    newest = max((i for i in restored if i in acked), default=0)
    last = max(acked, default=0)
    seconds = acked[last] - acked[newest] if missing and newest in acked else 0.0
    if missing and newest not in acked and acked:
        seconds = acked[last] - min(acked.values())
    return Loss(len(acked), max(restored, default=0), len(missing), seconds)
