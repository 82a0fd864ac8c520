"""The highly available lab, end to end: `chairside lab up` under a booking load across
both API hosts, then the database leader, the Redis master and an API host killed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from chairside.booking.integrity import check_bookings
from chairside.db import make_engine, make_session_factory, transaction
from chairside.ops.drill.booking_load import BookingLoad, first_success_after, server_errors
from chairside.runtime.lab.control import kill_host, start_host
from chairside.runtime.lab.layout import LabLayout
from chairside.topology.file import load_resolved
from chairside.topology.model import Topology
from chairside.topology.patroni import cluster_view
from chairside.topology.sentinel import sentinel_reports
from tests.support.servers import remove_tree, scratch_dir

pytestmark = [pytest.mark.slow, pytest.mark.timeout(360)]

START_TIMEOUT = 180


@dataclass
class Lab:
    process: subprocess.Popen[bytes]
    layout: LabLayout
    topology: Topology
    home: Path

    @property
    def api_url(self) -> str:
        hp = self.topology.haproxy
        return f"http://{hp.host}:{hp.api_port}"


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    """`chairside lab up` in a home of its own; Ctrl-C (SIGINT) at the end stops it all."""
    base = scratch_dir("chairside-lab-")
    home = base / "home"
    env = dict(os.environ, CHAIRSIDE_HOME=str(home), CHAIRSIDE_LOG_LEVEL="WARNING")
    log = (base / "lab-up.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "chairside", "lab", "up", "--json"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    layout = LabLayout(home / "lab")
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while layout.read_state().get("ready") is not True:
            assert process.poll() is None, (base / "lab-up.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "the lab did not start in time"
            time.sleep(0.5)
        yield Lab(process, layout, load_resolved(layout.root), home)
    finally:
        pids = layout.read_state().get("pids") or {}
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=90)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        log.close()
        # Ctrl-C stopped every host of the lab.
        survivors = [name for name, pid in dict(pids).items() if _alive(int(pid))]
        remove_tree(base)
        assert not survivors, f"still running after Ctrl-C: {survivors}"


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


def wait_for(condition: object, timeout: float, what: str) -> float:
    """Seconds until ``condition()`` was true; fails the test after ``timeout``."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if condition():  # type: ignore[operator]
            return time.monotonic() - started
        time.sleep(0.2)
    raise AssertionError(f"{what} did not happen within {timeout} s")


def redis_master_name(topology: Topology) -> str:
    masters = {r.master for r in sentinel_reports(topology) if r.master}
    assert len(masters) == 1, masters
    (address,) = masters
    return next(n.name for n in topology.redis.nodes if f"{n.host}:{n.port}" == address)


def redis_ok(api_url: str) -> bool:
    detailed = httpx.get(f"{api_url}/health/detailed", timeout=10).json()
    return any(c["name"] == "redis" and c["status"] == "ok" for c in detailed["checks"])


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
        wait_for(lambda: redis_master_name(topology) != redis_master, 30, "a Redis failover")
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
