"""The engine's pool: busy connections skip the ping, idle ones survive a server restart."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import Engine, text

from chairside import db
from chairside.runtime.postgres import PostgresCluster
from tests.support.servers import ClusterFactory


@pytest.fixture
def own_cluster(cluster_factory: ClusterFactory) -> PostgresCluster:
    return cluster_factory.make()  # its own: the test restarts it


def _backend_pid(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text("SELECT pg_backend_pid()")).scalar_one())


def test_a_connection_idle_across_a_restart_is_replaced_not_failed(
    own_cluster: PostgresCluster,
) -> None:
    engine = db.make_engine(db.normalize_url(own_cluster.url("postgres")), pool_size=1)
    try:
        before = _backend_pid(engine)
        own_cluster.stop(mode="immediate")
        own_cluster.start()
        time.sleep(1.0)  # a restart takes longer than this anyway
        # The pooled connection died with the old server: the request still succeeds.
        after = _backend_pid(engine)
        assert after != before
    finally:
        engine.dispose()


def test_only_a_connection_that_sat_idle_is_pinged(
    own_cluster: PostgresCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = db.make_engine(db.normalize_url(own_cluster.url("postgres")), pool_size=1)
    pings: list[object] = []
    real_ping = engine.dialect.do_ping

    def counting_ping(dbapi_connection: object) -> bool:
        pings.append(dbapi_connection)
        return real_ping(dbapi_connection)

    monkeypatch.setattr(engine.dialect, "do_ping", counting_ping)
    monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", 0.2)
    try:
        first = _backend_pid(engine)
        assert _backend_pid(engine) == first
        assert pings == []  # back in the pool a moment ago: no round trip spent
        time.sleep(0.3)
        assert _backend_pid(engine) == first
        assert len(pings) == 1
    finally:
        engine.dispose()
