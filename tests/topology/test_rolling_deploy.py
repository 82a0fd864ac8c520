"""`chairside deploy roll` across the lab's two API hosts under a booking load, a release
that fails on the second host, and `chairside deploy rollback` the same way.

Runs after test_lab.py, which kills hosts: it first brings every host back and waits for
the lab to be whole. It leaves the lab whole too (both hosts serving, each on a release
whose interpreter stays in the lab's home for the rest of the session).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from chairside.checks import CheckStatus
from chairside.config import Settings
from chairside.ops.deploy.release import RELEASE_HEADER
from chairside.ops.drill.booking_load import BookingLoad
from chairside.ops.schedule.leader import leader_lock
from chairside.runtime.lab.control import start_host
from chairside.topology.status import topology_checks
from tests.topology.conftest import Lab, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(400)]


def chairside(lab: Lab, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """The CLI as an operator of the lab runs it (`eval "$(chairside lab env)"`)."""
    env = dict(
        os.environ,
        CHAIRSIDE_HOME=str(lab.home),
        CHAIRSIDE_LOG_LEVEL="WARNING",
        **lab.layout.client_environment(lab.topology),
    )
    return subprocess.run(
        [sys.executable, "-m", "chairside", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def release_of(lab: Lab, host: str) -> str | None:
    """The release a host says it serves, asked directly (not through HAProxy)."""
    answer = httpx.get(f"{lab.topology.api_host(host).url}/health/live", timeout=10)
    return answer.headers.get(RELEASE_HEADER)


def serving(lab: Lab) -> bool:
    """Both hosts ready, and HAProxy sends traffic to both."""
    checks = {c.name: c for c in topology_checks(lab.topology)}
    return checks["haproxy:api_hosts"].summary.startswith("2/2 up") and all(
        checks[f"api:{h.name}"].status is CheckStatus.OK for h in lab.topology.api.hosts
    )


@pytest.fixture
def whole_lab(lab: Lab) -> Lab:
    """Every host test_lab.py took down started again, and the lab healthy."""
    names = [*lab.topology.host_names(), "haproxy", "s3"]
    for name in names:
        if lab.layout.is_marked_down(name):
            start_host(lab.layout, name)
    wait_for(
        lambda: all(c.status is CheckStatus.OK for c in topology_checks(lab.topology)),
        120,
        "every host of the lab back and healthy",
    )
    return lab


def roll_under_load(lab: Lab, *args: str) -> tuple[subprocess.CompletedProcess[str], BookingLoad]:
    load = BookingLoad(api_url=lab.api_url, clients=2)
    load.prepare()
    load.start()
    try:
        time.sleep(1)
        done = chairside(lab, *args)
        time.sleep(1)
    finally:
        load.stop()
    return done, load


def assert_no_errors(load: BookingLoad) -> None:
    attempts = load.snapshot()
    assert len(load.acknowledged()) > 10
    # Each host drained before it stopped: only 201s and 409s (the raced slots), no 500,
    # no 502/503 and no connection error at HAProxy.
    assert {a.status for a in attempts} <= {201, 409}, [
        (a.status, a.error) for a in attempts if a.status not in (201, 409)
    ][:5]


def report(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    try:
        body: dict[str, Any] = json.loads(done.stdout)
    except json.JSONDecodeError:
        raise AssertionError(done.stdout + done.stderr) from None
    return body


def test_a_rolling_deploy_and_its_rollback_under_load_answer_no_errors(whole_lab: Lab) -> None:
    lab = whole_lab
    before = {h.name: release_of(lab, h.name) for h in lab.topology.api.hosts}
    target = f"r{int(time.time())}"
    # The lab has no backups yet: the guard's backup checks are critical, hence --force.
    done, load = roll_under_load(lab, "deploy", "roll", "--release", target, "--force", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    assert_no_errors(load)
    deploy = report(done)["deploy"]
    assert deploy["kind"] == "rolling" and deploy["state"] == "finished"
    assert [h["host"] for h in deploy["hosts"]] == ["api1", "api2"]
    assert all(h["state"] == "rolled" for h in deploy["hosts"])
    # Migrations ran once, on the leader, before the first host.
    steps = [s["step"] for s in deploy["steps"]]
    assert steps.count("migrate") == 1
    assert steps.index("migrate") < steps.index("host:api1") < steps.index("host:api2")
    assert {h: release_of(lab, h) for h in before} == {"api1": target, "api2": target}
    # Each host ran the business smoke test directly, on the new release.
    smoke = {c["name"] for c in deploy["hosts"][1]["checks"]}
    assert {"release", "book", "pay", "refund"} <= smoke

    history = report(chairside(lab, "deploy", "history", "--json"))["events"]
    kinds = [e["kind"] for e in history[:4]]
    assert kinds == ["deploy.finished", "deploy.host", "deploy.host", "deploy.started"]

    # The rollback: every host back on the release it had, one at a time, under load.
    done, load = roll_under_load(
        lab, "deploy", "rollback", "smoke test of rollback", "--yes", "--json"
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert_no_errors(load)
    back = report(done)["deploy"]
    assert back["reason"].startswith(f"rollback of {deploy['id']}")
    assert {h: release_of(lab, h) for h in before} == before
    assert serving(lab)


def test_a_release_failing_on_the_second_host_stops_the_roll_and_both_keep_serving(
    whole_lab: Lab,
) -> None:
    lab = whole_lab
    before = {h.name: release_of(lab, h.name) for h in lab.topology.api.hosts}
    # A release whose interpreter cannot start Chairside on api2 (say a library missing
    # there). It stays in the lab's home: api1 keeps running it after this test.
    python = Path(lab.home) / "release-broken-on-api2" / "python"
    python.parent.mkdir(parents=True, exist_ok=True)
    python.write_text(
        "#!/bin/sh\n"
        'case "$CHAIRSIDE_HOME" in */hosts/api2)'
        ' echo "libmissing.so: cannot open shared object file" >&2; exit 3;; esac\n'
        f'exec {sys.executable} "$@"\n'
    )
    python.chmod(0o755)
    done = chairside(
        lab, "deploy", "roll", "--release", "broken", "--python", str(python),
        "--force", "--skip-migrations", "--json",
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    deploy = report(done)["deploy"]
    assert deploy["state"] == "failed"
    states = {h["host"]: h for h in deploy["hosts"]}
    assert states["api1"]["state"] == "rolled"
    assert states["api2"]["state"] == "restored"
    assert "libmissing.so" in states["api2"]["error"]
    # The roll stopped there: api1 on the new release, api2 back on the one it had, and
    # HAProxy sends traffic to both.
    assert release_of(lab, "api1") == "broken"
    assert release_of(lab, "api2") == before["api2"]
    wait_for(lambda: serving(lab), 30, "both hosts serving")


def test_the_schedule_is_led_from_one_api_host_across_the_topology(whole_lab: Lab) -> None:
    lab = whole_lab
    write_url = lab.layout.write_url(lab.topology)
    locks = [
        leader_lock(Settings(home=lab.layout.api_home(h.name), database_url=SecretStr(write_url)))
        for h in lab.topology.api.hosts
    ]
    assert [type(lock).__name__ for lock in locks] == ["AdvisoryLeaderLock"] * 2
    try:
        # api1's scheduler leads; api2's, on another host but the same leader, does not.
        assert locks[0].try_acquire()
        assert not locks[1].try_acquire()
        assert locks[1].last_error == "another scheduler holds the leader lock"
        # api1 stops (a roll restarts it): api2 takes the lead.
        locks[0].release()
        assert locks[1].try_acquire()
        assert not locks[0].try_acquire()
    finally:
        for lock in locks:
            lock.release()
