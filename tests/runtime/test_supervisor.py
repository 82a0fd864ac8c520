"""PostgreSQL killed under ``chairside up``: back and serving within seconds, archiving on time."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from chairside.runtime.ports import free_port
from tests.runtime.test_up import CHAIRSIDE, _conninfo, _wait_healthy
from tests.support.killrounds import postgres_pids
from tests.support.servers import remove_tree, scratch_dir

pytestmark = pytest.mark.slow

ARCHIVE_TIMEOUT = 4


@pytest.fixture
def home() -> Iterator[Path]:
    path = scratch_dir("chairside-supervisor-")
    yield path
    remove_tree(path)


def _postmaster_pids(home: Path) -> list[int]:
    from chairside.runtime.postgres import PostgresCluster

    cluster = PostgresCluster(
        data_dir=home / "pg" / "data", port=0, password="", log_file=home / "x", socket_dir=home
    )
    return postgres_pids(cluster)


def _archived(home: Path, segment: str) -> bool:
    return any((home / "backups" / "wal" / segment[:16]).glob(f"{segment}-*"))


def test_postgres_killed_under_up_is_back_within_seconds_and_archives_within_archive_timeout(
    home: Path,
) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    env.update(
        CHAIRSIDE_HOME=str(home),
        CHAIRSIDE_WAL_ARCHIVE_TIMEOUT_SECONDS=str(ARCHIVE_TIMEOUT),
        CHAIRSIDE_SCHEDULE_IN_PROCESS="false",
    )
    with (home / "up.log").open("wb") as log:
        up = subprocess.Popen(
            [CHAIRSIDE, "up", "--port", str(port)], env=env, stdout=log, stderr=log
        )
    try:
        _wait_healthy(port, up)
        pids = _postmaster_pids(home)
        for pid in pids:  # kill -9 of the postmaster and all its children
            os.kill(pid, signal.SIGKILL)
        killed = time.monotonic()
        while True:
            assert up.poll() is None, "chairside up exited"
            assert time.monotonic() - killed < 20, (home / "up.log").read_text()[-2000:]
            try:
                with psycopg.connect(_conninfo(home), connect_timeout=1) as conn:
                    conn.execute("SELECT 1")
                break
            except psycopg.OperationalError:
                time.sleep(0.2)
        back_after = time.monotonic() - killed
        assert back_after < 15
        assert not set(pids) & set(_postmaster_pids(home))
        # Written after the restart: archived within archive_timeout plus a margin.
        with psycopg.connect(_conninfo(home), autocommit=True) as conn:
            conn.execute("CREATE TABLE after_crash AS SELECT 1 AS id")
            row = conn.execute("SELECT pg_walfile_name(pg_current_wal_lsn())").fetchone()
        assert row is not None
        written = time.monotonic()
        while not _archived(home, str(row[0])):
            assert time.monotonic() - written < ARCHIVE_TIMEOUT + 6, f"{row[0]} not archived"
            time.sleep(0.2)
        # The death and the return are on the ops timeline.
        with sqlite3.connect(home / "ops.db") as db:
            kinds = {r[0] for r in db.execute("SELECT kind FROM ops_events")}
        assert {"runtime.postgresql.down", "runtime.postgresql.restarted"} <= kinds
    finally:
        up.send_signal(signal.SIGTERM)
        assert up.wait(timeout=60) == 0
