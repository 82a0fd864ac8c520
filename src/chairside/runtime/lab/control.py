"""Taking a lab host down (an outage) and letting the supervisor bring it back."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from chairside.errors import ComponentError, InputError
from chairside.runtime.lab.layout import LabLayout
from chairside.topology.file import load_resolved


def running_supervisor(layout: LabLayout) -> int:
    """The pid of the ``lab up`` supervising this lab; an error when none runs."""
    pid = layout.read_state().get("pid")
    if not isinstance(pid, int) or not Path(f"/proc/{pid}").exists():
        raise ComponentError(
            f"no running lab under {layout.root}: start one with `chairside lab up`"
        )
    return pid


def host_pid(layout: LabLayout, host: str) -> int:
    """The pid of ``host``'s process (its process group leader)."""
    running_supervisor(layout)
    pids = layout.read_state().get("pids")
    pids = pids if isinstance(pids, dict) else {}
    names = set(load_resolved(layout.root).host_names()) | {"haproxy", "s3"}
    if host not in names:
        raise InputError(
            f"no host {host!r} in the lab; hosts: {', '.join(sorted(names))}", field="host"
        )
    if host not in pids:
        raise ComponentError(f"{host} is not running (taken down, or still starting)")
    return int(pids[host])


def kill_host(layout: LabLayout, host: str) -> int:
    """Mark ``host`` down (the supervisor leaves it down), then SIGKILL it; its old pid.

    A PostgreSQL node's postmaster runs in a session of its own (Patroni starts it so):
    its whole process group is killed too, backends included, as a crash of the machine
    would. The postmaster goes first, so nothing is left to notice Patroni's death.
    """
    pid = host_pid(layout, host)
    layout.mark_down(host)
    if host in {n.name for n in load_resolved(layout.root).postgres.nodes}:
        pid_file = layout.node_dir(host) / "data" / "postmaster.pid"
        try:
            postmaster = int(pid_file.read_text().splitlines()[0])
            _kill_group(os.getpgid(postmaster))
        except (OSError, ValueError, IndexError):
            pass
    _kill_group(pid)
    return pid


def start_host(layout: LabLayout, host: str) -> None:
    """Let the supervisor start ``host`` again (within a second)."""
    running_supervisor(layout)
    layout.mark_up(host)


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
