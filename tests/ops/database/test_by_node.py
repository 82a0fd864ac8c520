"""With a topology, the ``db`` checks and ``maintenance database`` read each node's own
statistics: a real leader and a real streaming replica (plain clusters, no Patroni)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml

from chairside.topology.file import default_topology_text
from tests.cli.conftest import Run
from tests.ops.database.conftest import Backends
from tests.support.servers import ClusterFactory
from tests.support.streaming import StreamingPair, make_streaming_pair

Cli = Callable[..., Run]
DATABASE = "chairside"


@pytest.fixture(scope="module")
def pair(cluster_factory: ClusterFactory) -> StreamingPair:
    pair = make_streaming_pair(cluster_factory, database=DATABASE)
    with psycopg.connect(pair.leader.conninfo(DATABASE), autocommit=True) as conn:
        conn.execute("CREATE TABLE probe (id int PRIMARY KEY, v int)")
        conn.execute("CREATE INDEX probe_v ON probe (v)")
        conn.execute("INSERT INTO probe SELECT g, g FROM generate_series(1, 2000) g")
        conn.execute("ANALYZE probe")
    _wait_replayed(pair)
    return pair


@pytest.fixture
def replica_backends(pair: StreamingPair) -> Iterator[Backends]:
    holder = Backends(pair.standby.conninfo(DATABASE))
    yield holder
    holder.close()


def _wait_replayed(pair: StreamingPair) -> None:
    with psycopg.connect(pair.leader.conninfo(DATABASE), autocommit=True) as leader:
        lsn = leader.execute("SELECT pg_current_wal_lsn()").fetchone()[0]  # type: ignore[index]
    deadline = time.monotonic() + 10
    with psycopg.connect(pair.standby.conninfo(DATABASE), autocommit=True) as standby:
        while True:
            row = standby.execute(
                "SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (str(lsn),)
            ).fetchone()
            if row and row[0]:
                return
            assert time.monotonic() < deadline, "the standby did not replay in time"
            time.sleep(0.05)


def _env(pair: StreamingPair, tmp_path: Path, *, url: str | None = None) -> dict[str, str]:
    """DATABASE_URL on the leader (as HAProxy's write port would be) and a topology whose
    PostgreSQL nodes are the two clusters."""
    data = yaml.safe_load(default_topology_text())
    data["postgres"]["nodes"] = [
        {"name": "pg1", "host": "127.0.0.1", "port": pair.leader.port, "rest_port": 0},
        {"name": "pg2", "host": "127.0.0.1", "port": pair.standby.port, "rest_port": 0},
    ]
    topology = tmp_path / "topology.yaml"
    topology.write_text(yaml.safe_dump(data))
    return {
        "DATABASE_URL": url or pair.leader.url(DATABASE),
        "CHAIRSIDE_TOPOLOGY": str(topology),
    }


def _node(body: dict[str, Any], name: str) -> dict[str, Any]:
    (node,) = [n for n in body["nodes"] if n["node"] == name]
    return node


def test_a_query_running_on_the_replica_is_listed_under_the_replica_only(
    cli: Cli, pair: StreamingPair, replica_backends: Backends, tmp_path: Path
) -> None:
    sleeper = replica_backends.sleeper(application="report-on-replica")
    time.sleep(1.2)
    answer = cli("db", "long-running", "--older-than", "1s", "--json", env=_env(pair, tmp_path))
    assert answer.exit_code == 1, answer.stdout
    body = answer.json()
    replica, leader = _node(body, "pg2"), _node(body, "pg1")
    assert (replica["role"], leader["role"]) == ("replica", "leader")
    assert [q["pid"] for q in replica["figures"]["queries"]] == [sleeper.pid]
    assert leader["figures"]["queries"] == []
    status = {c["name"]: c["status"] for c in body["checks"]}
    assert status == {"long_running:pg1": "ok", "long_running:pg2": "warning"}


def test_connections_are_counted_on_each_node_against_its_own_limit(
    cli: Cli, pair: StreamingPair, replica_backends: Backends, tmp_path: Path
) -> None:
    for _ in range(3):
        replica_backends.connect("reader-on-replica")
    answer = cli("db", "connections", "--json", env=_env(pair, tmp_path))
    assert answer.exit_code == 0, answer.stdout
    body = answer.json()
    on_replica = _node(body, "pg2")["figures"]["by_application"]
    on_leader = _node(body, "pg1")["figures"]["by_application"]
    assert on_replica.get("reader-on-replica") == 3
    assert "reader-on-replica" not in on_leader
    assert {c["name"] for c in body["checks"]} == {"connections:pg1", "connections:pg2"}


def test_an_index_only_the_replica_reads_is_not_called_unused(
    cli: Cli, pair: StreamingPair, tmp_path: Path
) -> None:
    with psycopg.connect(pair.standby.conninfo(DATABASE), autocommit=True) as conn:
        conn.execute("SET enable_seqscan = off")
        conn.execute("SELECT * FROM probe WHERE v = 7").fetchall()
    # Statistics are flushed when the session ends; the check reads them after.
    deadline = time.monotonic() + 10
    while True:
        body = cli("db", "bloat", "--json", env=_env(pair, tmp_path)).json()
        replica_unused = {i["index"] for i in _node(body, "pg2")["figures"]["unused_indexes"]}
        if "public.probe_v" not in replica_unused or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    leader_unused = {i["index"] for i in _node(body, "pg1")["figures"]["unused_indexes"]}
    assert "public.probe_v" in leader_unused
    assert "public.probe_v" not in replica_unused
    (everywhere,) = [c for c in body["checks"] if c["name"] == "unused_indexes"]
    assert "probe_v" not in everywhere["summary"]
    assert {"replication:pg2", "dead_rows:pg1", "xid_age:pg2"} <= {
        c["name"] for c in body["checks"]
    }


def test_maintenance_vacuums_the_leader_and_reports_each_node(
    cli: Cli, pair: StreamingPair, tmp_path: Path
) -> None:
    with psycopg.connect(pair.leader.conninfo(DATABASE), autocommit=True) as conn:
        conn.execute("UPDATE probe SET v = v + 1 WHERE id <= 500")
    answer = cli("maintenance", "database", "--json", env=_env(pair, tmp_path))
    body = answer.json()
    assert answer.exit_code == 0, answer.stdout
    (run,) = [c for c in body["checks"] if c["name"] == "database"]
    assert "public.probe" in run["details"]["vacuumed"]
    roles = {n["node"]: n["role"] for n in run["details"]["nodes"]}
    assert roles == {"pg1": "leader", "pg2": "replica"}
    assert {"replication:pg2", "dead_rows:pg1", "dead_rows:pg2"} <= {
        c["name"] for c in body["checks"]
    }


def test_maintenance_refuses_a_database_url_that_reaches_a_replica(
    cli: Cli, pair: StreamingPair, tmp_path: Path
) -> None:
    env = _env(pair, tmp_path, url=pair.standby.url(DATABASE))
    answer = cli("maintenance", "database", "--json", env=env)
    assert answer.exit_code == 2, answer.stdout
    (run,) = [c for c in answer.json()["checks"] if c["name"] == "database"]
    assert "reaches a replica" in run["summary"] and "write port" in run["summary"]


def test_a_runaway_query_on_the_replica_is_stopped_there_with_node(
    cli: Cli, pair: StreamingPair, replica_backends: Backends, tmp_path: Path
) -> None:
    sleeper = replica_backends.sleeper(application="runaway-on-replica")
    time.sleep(1.2)
    env = _env(pair, tmp_path)
    on_leader = cli("db", "kill-long-running", "--older-than", "1s", "--yes", "--json", env=env)
    assert sleeper.pid not in on_leader.json()["stopped"]
    assert sleeper.is_alive()
    answer = cli(
        "db", "kill-long-running", "--older-than", "1s", "--node", "pg2", "--yes", "--json",
        env=env,
    )  # fmt: skip
    assert answer.exit_code == 0, answer.stdout
    assert answer.json()["stopped"] == [sleeper.pid]
    replica_backends.wait_for(lambda: not sleeper.is_alive())
    unknown = cli("db", "kill-long-running", "--node", "pg9", "--yes", "--json", env=env)
    assert unknown.exit_code == 2
    assert "pg1, pg2" in unknown.stdout
