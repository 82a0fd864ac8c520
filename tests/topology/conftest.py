"""The lab every topology test shares: one `chairside lab up` per test session (starting
it costs about a minute), stopped by Ctrl-C at the end. Tests that kill hosts must leave the
lab whole again (every host back, a leader elected) for the tests after them."""

from __future__ import annotations

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

from chairside.runtime.lab.layout import LabLayout
from chairside.topology.file import load_resolved
from chairside.topology.model import Topology
from chairside.topology.sentinel import sentinel_reports
from tests.cli.conftest import cli  # noqa: F401 - the `cli` fixture, shared
from tests.support.servers import remove_tree, scratch_dir

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


@pytest.fixture(scope="package")
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


def agreed_redis_master(topology: Topology) -> str | None:
    """The Redis node every answering sentinel names as master; None while they disagree
    (during a promotion each sentinel switches on its own, so two names are normal for a
    moment)."""
    masters = {r.master for r in sentinel_reports(topology) if r.master}
    if len(masters) != 1:
        return None
    (address,) = masters
    return next(n.name for n in topology.redis.nodes if f"{n.host}:{n.port}" == address)


def redis_master_name(topology: Topology, timeout: float = 30) -> str:
    """The agreed Redis master, waiting up to ``timeout`` seconds for the sentinels to agree."""
    wait_for(lambda: agreed_redis_master(topology) is not None, timeout, "sentinels agreeing")
    name = agreed_redis_master(topology)
    assert name is not None
    return name


def redis_ok(api_url: str) -> bool:
    detailed = httpx.get(f"{api_url}/health/detailed", timeout=10).json()
    return any(c["name"] == "redis" and c["status"] == "ok" for c in detailed["checks"])
