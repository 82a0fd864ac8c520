"""Runbook commands across the lab: maintenance on the leader (through HAProxy's write
port) and statistics from each Patroni node, each its own."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

from chairside.topology.patroni import cluster_view
from tests.topology.conftest import Lab


def _chairside(lab: Lab, *args: str) -> tuple[int, dict[str, Any]]:
    env = dict(os.environ, **lab.layout.client_environment(lab.topology))
    env["CHAIRSIDE_HOME"] = str(lab.home / "ops")
    answer = subprocess.run(
        [sys.executable, "-m", "chairside", *args, "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return answer.returncode, json.loads(answer.stdout)


def test_maintenance_runs_on_the_leader_and_reads_every_node(lab: Lab) -> None:
    view = cluster_view(lab.topology)
    assert view.leader is not None
    code, body = _chairside(lab, "maintenance", "database")
    assert code in (0, 1), body  # a warning (a lagging replica, say) is not a failure
    (run,) = [c for c in body["checks"] if c["name"] == "database"]
    assert run["details"]["vacuumed"], run  # VACUUM ran: the write port reached the leader
    roles = {n["node"]: n["role"] for n in run["details"]["nodes"]}
    assert roles == {
        n.name: ("leader" if n.name == view.leader.name else "replica")
        for n in lab.topology.postgres.nodes
    }
    names = {c["name"] for c in body["checks"]}
    replicas = [n for n in roles if roles[n] == "replica"]
    assert {f"replication:{r}" for r in replicas} <= names
    assert {f"xid_age:{n}" for n in roles} <= names


def test_connections_are_counted_on_each_node(lab: Lab) -> None:
    code, body = _chairside(lab, "db", "connections")
    assert code in (0, 1), body
    nodes = {n["node"]: n for n in body["nodes"]}
    assert set(nodes) == {n.name for n in lab.topology.postgres.nodes}
    leader = next(n for n in nodes.values() if n["role"] == "leader")
    replicas = [n for n in nodes.values() if n["role"] == "replica"]
    assert len(replicas) == len(nodes) - 1
    # The API hosts' database watches reach the leader through HAProxy's write port,
    # and only the leader: each node counts its own sessions.
    assert leader["figures"]["by_application"].get("chairside-watch", 0) >= 1
    assert all("chairside-watch" not in r["figures"]["by_application"] for r in replicas)
    assert all(n["figures"]["max_connections"] == 200 for n in nodes.values())
