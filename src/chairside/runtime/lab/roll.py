"""A rolling restart of the lab's API hosts: one at a time, drained from HAProxy first.

For each host: HAProxy stops sending it new requests (``drain``), its requests in
flight finish, it is stopped gracefully (SIGTERM: uvicorn finishes what it holds) and
started again with the code now installed, its readiness route is checked directly,
and only then does HAProxy send it traffic again (``ready``). Migrations, when asked
for, run once, on the leader, before the first host (new code must work on the old
schema's successor; the deploy side keeps that rule, docs/cli.md "Deployments").
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import httpx

from chairside.errors import ComponentError
from chairside.ops.database import migrations
from chairside.runtime.lab.api import ready_path
from chairside.runtime.lab.control import host_pid
from chairside.runtime.lab.layout import LabLayout
from chairside.topology.haproxy import backend_servers, set_server_state
from chairside.topology.model import ApiHost, Topology

API_BACKEND = "api_hosts"


@dataclass(frozen=True)
class RolledHost:
    """How one host went through the roll."""

    host: str
    drain_seconds: float
    stop_seconds: float
    restart_seconds: float
    total_seconds: float

    def to_dict(self) -> dict[str, object]:
        return {
            "host": self.host,
            "drain_seconds": round(self.drain_seconds, 2),
            "stop_seconds": round(self.stop_seconds, 2),
            "restart_seconds": round(self.restart_seconds, 2),
            "total_seconds": round(self.total_seconds, 2),
        }


def roll_api_hosts(
    layout: LabLayout,
    topology: Topology,
    *,
    hosts: list[ApiHost],
    migrate: bool = False,
    drain_timeout: float = 30.0,
    ready_timeout: float = 90.0,
    step: Callable[[str], None] = lambda message: None,
) -> list[RolledHost]:
    """Restart ``hosts`` one at a time behind HAProxy; the first failure stops the roll."""
    sock = Path(str(topology.haproxy.admin_socket or layout.haproxy_socket))
    if migrate:
        step("Migrating once, on the leader (HAProxy's write port) ...")
        migrations.upgrade(url=layout.write_url(topology))
    rolled = []
    for host in hosts:
        started = time.monotonic()
        step(f"{host.name}: draining ...")
        set_server_state(sock, backend=API_BACKEND, server=host.name, state="drain")
        _wait(partial(_drained, sock, host.name), drain_timeout, f"{host.name} to drain")
        drained = time.monotonic()
        step(f"{host.name}: restarting ...")
        pid = host_pid(layout, host.name)
        layout.mark_down(host.name)
        try:
            os.kill(pid, signal.SIGTERM)
            _wait(partial(_gone, pid), 30, f"{host.name} to stop")
        finally:
            layout.mark_up(host.name)  # the supervisor starts it with the code installed now
        stopped = time.monotonic()
        _wait(partial(_ready, host), ready_timeout, f"{host.name} to be ready")
        restarted = time.monotonic()
        set_server_state(sock, backend=API_BACKEND, server=host.name, state="ready")
        _wait(partial(_up_in_haproxy, sock, host.name), 30, f"HAProxy to send {host.name} traffic")
        step(f"{host.name}: back in HAProxy")
        rolled.append(
            RolledHost(
                host.name,
                drain_seconds=drained - started,
                stop_seconds=stopped - drained,
                restart_seconds=restarted - stopped,
                total_seconds=time.monotonic() - started,
            )
        )
    return rolled


def _drained(sock: Path, name: str) -> bool:
    for server in backend_servers(sock):
        if server.backend == API_BACKEND and server.server == name:
            return server.current_sessions == 0
    raise ComponentError(f"HAProxy has no server {API_BACKEND}/{name}")


def _up_in_haproxy(sock: Path, name: str) -> bool:
    return any(
        s.backend == API_BACKEND and s.server == name and s.status == "UP"
        for s in backend_servers(sock)
    )


def _ready(host: ApiHost) -> bool:
    try:
        return httpx.get(f"{host.url}{ready_path()}", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return True
    return state == "Z"


def _wait(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise ComponentError(f"waited {timeout:.0f} s for {what}; the roll stopped there")
