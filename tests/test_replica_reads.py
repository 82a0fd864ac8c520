"""Reads that may lag: a real streaming replica serves them within the bound, the leader
otherwise."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from chairside.api.app import create_app
from chairside.config import load_settings
from chairside.db import make_engine, make_session_factory
from chairside.ops.database import migrations
from chairside.replica_reads import LAG_RECHECK_SECONDS, ReplicaReads
from chairside.runtime.ports import free_port
from tests.support.servers import ClusterFactory
from tests.support.streaming import StreamingPair, make_streaming_pair


@pytest.fixture(scope="module")
def pair(cluster_factory: ClusterFactory) -> StreamingPair:
    """A leader with a migrated ``chairside`` database and a hot standby streaming from it."""
    pair = make_streaming_pair(cluster_factory, database="chairside")
    migrations.upgrade(url=pair.leader.url("chairside"))  # replicated like any write
    return pair


@pytest.fixture
def engines() -> Iterator[list[Engine]]:
    made: list[Engine] = []
    yield made
    for engine in made:
        engine.dispose()


def reads_of(
    pair: StreamingPair,
    engines: list[Engine],
    *,
    max_lag: float = 1.0,
    replica_url: str | None = None,
) -> ReplicaReads:
    leader = make_engine(pair.leader.url("chairside"), pool_size=2)
    replica = make_engine(replica_url or pair.standby.url("chairside"), pool_size=2)
    engines += [leader, replica]
    return ReplicaReads(
        leader=make_session_factory(leader), replica=replica, max_lag_seconds=max_lag
    )


def in_recovery(session: object) -> bool:
    return bool(session.execute(text("SELECT pg_is_in_recovery()")).scalar_one())  # type: ignore[attr-defined]


def test_a_read_that_may_lag_is_served_by_the_replica(
    pair: StreamingPair, engines: list[Engine]
) -> None:
    reads = reads_of(pair, engines)
    on_standby, from_replica = reads.run(in_recovery)
    assert from_replica and on_standby


def test_a_replica_lagging_past_the_bound_hands_reads_to_the_leader(
    pair: StreamingPair, engines: list[Engine]
) -> None:
    reads = reads_of(pair, engines, max_lag=0.5)
    with psycopg.connect(pair.leader.conninfo("chairside"), autocommit=True) as leader:
        leader.execute("CREATE TABLE IF NOT EXISTS lag_probe (at timestamptz)")
        leader.execute("INSERT INTO lag_probe VALUES (now())")
    with psycopg.connect(pair.standby.conninfo(), autocommit=True) as standby:
        # The standby has replayed a commit (so its lag is an age, not unknown) ...
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            replayed = "SELECT pg_last_xact_replay_timestamp() IS NOT NULL"
            if standby.execute(replayed).fetchone() == (True,):
                break
            time.sleep(0.1)
        # ... and now stops replaying while the leader commits on.
        standby.execute("SELECT pg_wal_replay_pause()")
        try:
            with psycopg.connect(pair.leader.conninfo("chairside"), autocommit=True) as leader:
                time.sleep(0.8)  # the standby's last replayed commit grows old
                leader.execute("INSERT INTO lag_probe VALUES (now())")
            time.sleep(0.3)  # streamed, not replayed
            on_standby, from_replica = reads.run(in_recovery)
            assert not from_replica and not on_standby
        finally:
            standby.execute("SELECT pg_wal_replay_resume()")
    # Caught up again: the replica serves once more (within a lag recheck or two).
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        on_standby, from_replica = reads.run(in_recovery)
        if from_replica:
            break
        time.sleep(LAG_RECHECK_SECONDS)
    assert from_replica and on_standby


def test_an_unreachable_replica_hands_reads_to_the_leader(
    pair: StreamingPair, engines: list[Engine]
) -> None:
    url = pair.standby.url("chairside").replace(f":{pair.standby.port}/", f":{free_port()}/")
    on_standby, from_replica = reads_of(pair, engines, replica_url=url).run(in_recovery)
    assert not from_replica and not on_standby


def test_search_through_the_app_reads_on_the_replica(pair: StreamingPair, tmp_path: Path) -> None:
    settings = load_settings(
        env="test",
        home=tmp_path / "home",
        database_url=pair.leader.url("chairside"),
        database_read_url=pair.standby.url("chairside"),
        embedded_redis=False,
        log_level="WARNING",
    )
    with TestClient(create_app(settings)) as client:
        response = client.get(
            "/api/v1/search/providers", params={"service": "haircut", "lat": 52.5, "lon": 13.4}
        )
        assert response.status_code == 200
        metrics = client.get("/metrics").text
    assert 'chairside_lag_tolerant_reads_total{served_by="replica"} 1.0' in metrics
