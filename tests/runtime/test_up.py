"""``chairside up`` as an operator runs it: a real process, real signals, real leftovers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from chairside.runtime.ports import free_port
from tests.support.servers import process_gone, remove_tree, scratch_dir

CHAIRSIDE = str(Path(sys.executable).parent / "chairside")


@pytest.fixture
def home() -> Iterator[Path]:
    path = scratch_dir("chairside-up-")
    yield path
    remove_tree(path)


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    env["CHAIRSIDE_HOME"] = str(home)
    return env


def _start(home: Path, port: int) -> subprocess.Popen[bytes]:
    with (home / f"up-{time.monotonic_ns()}.log").open("wb") as log:
        return subprocess.Popen(
            [CHAIRSIDE, "up", "--port", str(port)], env=_env(home), stdout=log, stderr=log
        )


def _wait_healthy(port: int, process: subprocess.Popen[bytes], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, "chairside up exited early"
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError("chairside up did not become healthy")


def _server_pids(home: Path) -> list[int]:
    pids = [int((home / "pg" / "data" / "postmaster.pid").read_text().split()[0])]
    pids += [int(p.read_text()) for p in (home / "run").glob("redis-*.pid")]
    return pids


def _complete_backups(home: Path) -> list[str]:
    return sorted(p.parent.name for p in (home / "backups" / "backups").glob("*/COMPLETE"))


def _wait_for_complete_backups(home: Path, *, count: int, timeout: float = 90) -> list[str]:
    """The first `up` takes a base backup in the background: PITR from the first minute."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(found := _complete_backups(home)) >= count:
            return found
        time.sleep(0.2)
    raise AssertionError(f"no complete base backup under {home / 'backups'}")


def _schedule(home: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [CHAIRSIDE, "schedule", *args], env=_env(home), capture_output=True, timeout=60
    )


def _schedule_pass(home: Path) -> subprocess.CompletedProcess[bytes]:
    """A dry pass of `schedule run --once`: exit 3 while another scheduler leads."""
    return _schedule(home, "run", "--once", "--dry-run", "--json")


def _conninfo(home: Path) -> str:
    state = json.loads((home / "runtime.json").read_text())
    password = (home / "secrets" / "pg-password").read_text().strip()
    return (
        f"host=127.0.0.1 port={state['pg_port']} user=postgres password={password} dbname=chairside"
    )


def test_up_serves_then_a_signal_stops_everything_and_the_next_up_keeps_the_data(
    home: Path,
) -> None:
    port = free_port()
    first = _start(home, port)
    try:
        _wait_healthy(port, first)
        status = subprocess.run(
            [CHAIRSIDE, "status", "--json"], env=_env(home), capture_output=True, timeout=60
        )
        assert status.returncode == 0, status.stdout
        assert {c["status"] for c in json.loads(status.stdout)["checks"]} == {"ok"}
        with psycopg.connect(_conninfo(home), autocommit=True) as conn:
            conn.execute("CREATE TABLE survives (v text); INSERT INTO survives VALUES ('kept')")
        pids = _server_pids(home)
        assert len(pids) == 2
        first_backups = _wait_for_complete_backups(home, count=1)
        # `up` leads the ops schedule: another scheduler on this home is not leader, and
        # a fresh home's jobs wait for their first slot instead of all starting at once.
        assert _schedule_pass(home).returncode == 3
        listed = json.loads(_schedule(home, "list", "--json").stdout)
        assert not [job["name"] for job in listed["jobs"] if job["due"]]
    finally:
        first.send_signal(signal.SIGTERM)
        assert first.wait(timeout=60) == 0
    assert all(process_gone(pid) for pid in pids)
    assert _schedule_pass(home).returncode == 0  # the leader lock went with `up`

    second = _start(home, port)
    try:
        _wait_healthy(port, second)
        with psycopg.connect(_conninfo(home)) as conn:
            assert conn.execute("SELECT v FROM survives").fetchone() == ("kept",)
        pids = _server_pids(home)
        time.sleep(1)  # give a (wrong) second first-backup the chance to start
        assert _complete_backups(home) == first_backups
    finally:
        second.send_signal(signal.SIGINT)  # what Ctrl-C sends
        assert second.wait(timeout=60) == 0
    assert all(process_gone(pid) for pid in pids)
    timeline = subprocess.run(
        [CHAIRSIDE, "timeline", "--kind", "service.", "--json"], env=_env(home),
        capture_output=True, timeout=60,
    )  # fmt: skip
    kinds = [e["kind"] for e in json.loads(timeline.stdout)["events"]]
    assert kinds == ["service.up", "service.stopped"] * 2  # each start and stop, with who


def test_up_after_a_kill_9_recovers_without_manual_clean_up(home: Path) -> None:
    port = free_port()
    first = _start(home, port)
    _wait_healthy(port, first)
    first.kill()
    first.wait(timeout=10)
    orphans = _server_pids(home)  # the servers outlive a SIGKILLed parent

    second = _start(home, port)
    try:
        _wait_healthy(port, second)
        assert _server_pids(home) == orphans  # adopted, not duplicated
    finally:
        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=60) == 0
    assert all(process_gone(pid) for pid in orphans)


def test_up_refuses_a_taken_api_port_and_starts_nothing(home: Path) -> None:
    import socket

    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        result = subprocess.run(
            [CHAIRSIDE, "up", "--port", str(port), "--json"],
            env=_env(home), capture_output=True, timeout=60,
        )  # fmt: skip
    assert result.returncode == 1
    assert f"port {port}" in json.loads(result.stdout)["error"]["message"]
    assert not (home / "pg" / "data" / "postmaster.pid").exists()
