"""PgBouncer in transaction mode, as the topology renders it, in front of a plain
cluster (the lab puts HAProxy's write port where the cluster is here): the app works
through it with server-side prepared statements off, and would not with them on."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from chairside.api.app import create_app
from chairside.config import load_settings
from chairside.db import make_engine
from chairside.runtime.lab.pgbouncer import (
    pgbouncer_binary,
    render_pgbouncer_config,
    render_pgbouncer_userlist,
)
from chairside.runtime.osuser import hand_over, server_user
from chairside.runtime.ports import free_port
from chairside.runtime.postgres import PostgresCluster
from chairside.topology.file import load_topology

pytestmark = pytest.mark.skipif(
    shutil.which("pgbouncer") is None and not Path("/usr/sbin/pgbouncer").exists(),
    reason="pgbouncer is not installed (scripts/install-system-deps.sh lab)",
)


@pytest.fixture
def pooler_url(pg_cluster: PostgresCluster, database_url: str, scratch_base: Path) -> Iterator[str]:
    """PgBouncer (pool of 2) in front of this test's database; its URL."""
    database = make_url(database_url).database
    assert database is not None
    topology = load_topology(None)
    topology.postgres.database = database
    topology.haproxy.db_write_port = pg_cluster.port
    topology.pgbouncer.enabled = True
    topology.pgbouncer.port = free_port()
    topology.pgbouncer.pool_size = 2
    user = server_user()
    # Somewhere the server's user can reach (pytest's tmp_path is root's alone).
    work = scratch_base / f"pgbouncer-{secrets.token_hex(3)}"
    hand_over(work, user)
    (work / "userlist.txt").write_text(render_pgbouncer_userlist(pg_cluster.password))
    config = work / "pgbouncer.ini"
    config.write_text(render_pgbouncer_config(topology, auth_file=work / "userlist.txt"))
    for path in (config, work / "userlist.txt"):
        if not user.is_current:
            assert user.uid is not None and user.gid is not None
            os.chown(path, user.uid, user.gid)
    with (work / "pgbouncer.log").open("wb") as log:
        process = subprocess.Popen(
            [pgbouncer_binary(), str(config)],
            user=user.uid,
            group=user.gid,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    url = make_url(database_url).set(port=topology.pgbouncer.port).render_as_string(False)
    conninfo = url.replace("postgresql+psycopg://", "postgresql://", 1)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                with psycopg.connect(conninfo, prepare_threshold=None, connect_timeout=1):
                    break
            except psycopg.OperationalError:
                assert process.poll() is None, (work / "pgbouncer.log").read_text()
                assert time.monotonic() < deadline, "PgBouncer did not answer in time"
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(10)


def _alternate(url: str, *, prepared_statements: bool, times: int = 8) -> None:
    """Two pooled connections run the same statement in turns, a transaction each."""
    engine = make_engine(url, pool_size=2, prepared_statements=prepared_statements)
    try:
        with engine.connect() as first, engine.connect() as second:
            for _ in range(times):
                for conn in (first, second):
                    conn.execute(text("SELECT count(*) FROM pg_class WHERE relpages >= 0"))
                    conn.commit()
    finally:
        engine.dispose()


def test_transaction_pooling_breaks_prepared_statements_and_the_setting_turns_them_off(
    pooler_url: str,
) -> None:
    with pytest.raises(DBAPIError, match="prepared statement"):
        _alternate(pooler_url, prepared_statements=True)
    _alternate(pooler_url, prepared_statements=False)


def test_the_app_serves_through_pgbouncer_with_the_pooler_url(
    pooler_url: str, database_url: str, tmp_path: Path
) -> None:
    settings = load_settings(
        env="test",
        home=tmp_path / "home",
        database_url=database_url,
        database_pooler_url=pooler_url,
        log_json=True,
        log_level="WARNING",
    )
    with TestClient(create_app(settings)) as client:

        def search(i: int) -> int:
            return client.get(
                "/api/v1/search/providers",
                params={"service": "cut", "lat": 52.5 + i / 1000, "lon": 13.4},
            ).status_code

        # Concurrent requests: the app's pool holds several connections, which PgBouncer
        # hands its two server connections in turn.
        with ThreadPoolExecutor(4) as pool:
            answers = list(pool.map(search, range(40)))
        email = "pooled@example.com"
        registered = client.post(
            "/api/v1/auth/register",
            json={
                "email": email,
                "password": "a long enough password 1",
                "full_name": "Pooled",
                "role": "owner",
            },
        )
    assert answers == [200] * 40
    assert registered.status_code == 202, registered.text
    # The rows went through PgBouncer to the database (the leader).
    with psycopg.connect(
        database_url.replace("postgresql+psycopg://", "postgresql://", 1), autocommit=True
    ) as conn:
        row = conn.execute("SELECT count(*) FROM users WHERE email = %s", (email,)).fetchone()
    assert row is not None and row[0] == 1
