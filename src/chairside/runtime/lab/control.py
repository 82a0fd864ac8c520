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

    A PostgreSQL node's postmaster runs in a session of its own (Patroni starts it so),
    and each of its backends in a process group of its own: they are all frozen first and
    then killed, so no backend outlives its postmaster long enough to finish a commit, as
    none would in a crash of the machine.
    """
    pid = host_pid(layout, host)
    layout.mark_down(host)
    if host in {n.name for n in load_resolved(layout.root).postgres.nodes}:
        _kill_postmaster(layout.node_dir(host) / "data" / "postmaster.pid")
    _kill_group(pid)
    return pid


def start_host(layout: LabLayout, host: str) -> None:
    """Let the supervisor start ``host`` again (within a second)."""
    running_supervisor(layout)
    layout.mark_up(host)


def _kill_postmaster(pid_file: Path) -> None:
    try:
        postmaster = int(pid_file.read_text().splitlines()[0])
    except (OSError, ValueError, IndexError):
        return
    family = [postmaster, *_children(postmaster)]
    for member in family:
        _signal(member, signal.SIGSTOP)
    for member in [*family, *_children(postmaster)]:
        _signal(member, signal.SIGKILL)
        _kill_group(member)  # a backend's own children (an archive command, ...)


def _children(pid: int) -> list[int]:
    found = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            lines = status.read_text().splitlines()
        except OSError:
            continue
        parent = next((ln.split()[1] for ln in lines if ln.startswith("PPid:")), None)
        if parent == str(pid):
            found.append(int(status.parent.name))
    return found


def _signal(pid: int, signum: signal.Signals) -> None:
    try:
        os.kill(pid, signum)
    except (ProcessLookupError, PermissionError):
        pass


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
