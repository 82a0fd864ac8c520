"""The highly available lab, end to end: `chairside lab up` under a booking load across
both API hosts, then the database leader, the Redis master and an API host killed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import httpx
import pytest
from sqlalchemy import text

from chairside.booking.integrity import check_bookings
from chairside.db import make_engine, make_session_factory, transaction
from chairside.ops.drill.booking_load import BookingLoad, first_success_after, server_errors
from chairside.runtime.lab.control import kill_host, start_host
from chairside.topology.patroni import cluster_view
from tests.topology.conftest import Lab, agreed_redis_master, redis_master_name, redis_ok, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(360)]


def test_lab_status_reports_every_host(lab: Lab) -> None:
    # Right after start Patroni may take a loop or two to name its synchronous standby
    # and Sentinel to agree: the status must settle to ok within a few loops.
    deadline = time.monotonic() + 30
    while True:
        answer = subprocess.run(
            [sys.executable, "-m", "chairside", "lab", "status", "--json"],
            env=dict(os.environ, CHAIRSIDE_HOME=str(lab.home)),
            capture_output=True,
            text=True,
            timeout=60,
        )
        report = json.loads(answer.stdout)
        if answer.returncode == 0 or time.monotonic() > deadline:
            break
        time.sleep(2)
    names = {c["name"]: c for c in report["checks"]}
    assert answer.returncode == 0, [
        (c["name"], c["status"], c["summary"]) for c in report["checks"] if c["status"] != "ok"
    ]
    leader = [n for n, c in names.items() if n.startswith("postgres:") and "leader" in c["summary"]]
    assert len(leader) == 1
    assert sum("sync_standby" in c["summary"] for c in names.values()) == 1
    assert names["haproxy:db_write"]["summary"].startswith("1/3 up")
    assert names["haproxy:db_read"]["summary"].startswith("2/3 up")
    assert names["haproxy:api_hosts"]["summary"].startswith("2/2 up")
    assert "3/3 sentinels answer" in names["sentinel"]["summary"]
    assert {"api:api1", "api:api2", "etcd:etcd1"} <= names.keys()


def test_a_rolling_restart_under_load_answers_no_errors(lab: Lab) -> None:
    before = {h: lab.layout.read_state()["pids"][h] for h in ("api1", "api2")}  # type: ignore[index]
    load = BookingLoad(api_url=lab.api_url, clients=4)
    load.prepare()
    load.start()
    try:
        time.sleep(1)
        rolled = subprocess.run(
            [sys.executable, "-m", "chairside", "lab", "roll", "--migrate", "--yes", "--json"],
            env=dict(os.environ, CHAIRSIDE_HOME=str(lab.home)),
            capture_output=True,
            text=True,
            timeout=240,
        )
        time.sleep(1)
    finally:
        load.stop()
    assert rolled.returncode == 0, rolled.stdout + rolled.stderr
    report = json.loads(rolled.stdout)["hosts"]
    print("rolled:", report)
    assert [h["host"] for h in report] == ["api1", "api2"]
    after = lab.layout.read_state()["pids"]
    assert all(after[h] != before[h] for h in before)  # type: ignore[index]
    attempts = load.snapshot()
    assert len(load.acknowledged()) > 20
    # Drained before it stops, so not one request of the load failed: only 201s and 409s
    # (the raced slots).
    assert {a.status for a in attempts} <= {201, 409}, [
        (a.status, a.error) for a in attempts if a.status not in (201, 409)
    ][:5]


def test_bookings_survive_the_leader_the_redis_master_and_an_api_host_dying(lab: Lab) -> None:
    topology, layout = lab.topology, lab.layout
    budget = topology.postgres.failover_budget_seconds
    load = BookingLoad(api_url=lab.api_url, clients=4)
    load.prepare()
    load.start()
    kills: list[float] = []
    try:
        time.sleep(3)
        # Availability, a read that may lag, answers from a replica of the lab.
        world = load.world
        assert world is not None
        day = world.first_slot.date().isoformat()
        seen = httpx.get(
            f"{lab.api_url}/api/v1/providers/{world.provider_id}/availability",
            params={"service_id": world.service_id, "from": day, "to": day},
            timeout=10,
        )
        assert seen.status_code == 200, seen.text

        # 1. The database leader dies: Patroni promotes the synchronous replica.
        old_leader = cluster_view(topology).leader
        assert old_leader is not None
        kill_host(layout, old_leader.name)
        kills.append(time.monotonic())  # the host is dead from here on
        wait_for(lambda: first_success_after(load.snapshot(), kills[-1]), budget, "a booking")
        back_after = first_success_after(load.snapshot(), kills[-1])
        assert back_after is not None and back_after.finished - kills[-1] <= budget

        # 2. The Redis master dies: Sentinel promotes the replica; bookings go on.
        redis_master = redis_master_name(topology)
        kill_host(layout, redis_master)
        kills.append(time.monotonic())  # the host is dead from here on
        wait_for(lambda: first_success_after(load.snapshot(), kills[-1]), 15, "a booking")
        wait_for(
            lambda: agreed_redis_master(topology) not in (None, redis_master),
            30,
            "a Redis failover",
        )
        # The app follows Sentinel to the promoted master (a client pinned to the dead
        # one would stay without Redis).
        wait_for(lambda: redis_ok(topology.api_host("api2").url), 15, "api2 reaching Redis")

        # 3. An API host dies: HAProxy sends everything to the other one.
        kill_host(layout, "api1")
        kills.append(time.monotonic())  # the host is dead from here on
        wait_for(lambda: first_success_after(load.snapshot(), kills[-1]), 10, "a booking")
        time.sleep(2)
    finally:
        load.stop()

    attempts = load.snapshot()
    acknowledged = sorted(load.acknowledged())
    assert len(acknowledged) > 50
    # No answer of 500 except for requests in flight at one of the kills.
    assert server_errors(attempts, in_flight_at=kills) == []
    engine = make_engine(layout.write_url(topology), pool_size=1)
    try:
        with transaction(make_session_factory(engine)) as session:
            present = session.execute(
                text("SELECT count(*) FROM bookings WHERE id::text = ANY(:ids)"),
                {"ids": acknowledged},
            ).scalar_one()
            integrity = check_bookings(session=session)
    finally:
        engine.dispose()
    # Synchronous replication: every booking the API acknowledged survived the failover.
    assert present == len(acknowledged)
    assert integrity.constraint_present and integrity.overlaps == []

    # The old leader, started again, rejoins as a replica on the new timeline.
    start_host(layout, old_leader.name)

    def rejoined() -> bool:
        view = cluster_view(topology)
        member, leader = view.member(old_leader.name), view.leader
        return (
            member is not None
            and leader is not None
            and not member.is_leader
            and member.lag_bytes is not None
            and member.timeline == leader.timeline
        )

    wait_for(rejoined, 90, f"{old_leader.name} rejoining as a replica")
