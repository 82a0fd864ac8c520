"""The lab's API hosts as a rolling deploy sees them: which release each runs, and
restarting one on another.

Each host's release is a file, ``run/release/<host>.json`` (label and interpreter); the
supervisor (``lab up``) reads it whenever it starts that host, so a host restarted for
any reason comes back on the release last installed on it, as a production host whose
``/srv/chairside/current`` points at a release would. A host with no file runs the
lab's own code under its package version.
"""

from __future__ import annotations

import json
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

from chairside.errors import ComponentError
from chairside.ops.deploy.release import Release
from chairside.runtime.lab.control import host_pid
from chairside.runtime.lab.layout import LabLayout
from chairside.runtime.lab.process import Daemon
from chairside.topology.model import ApiHost

STOP_TIMEOUT_SECONDS = 30.0


def release_file(layout: LabLayout, host: str) -> Path:
    return layout.run_dir / "release" / f"{host}.json"


def read_release(layout: LabLayout, host: str) -> Release:
    """The release installed on ``host`` (the lab's own when none was)."""
    try:
        return Release.from_dict(json.loads(release_file(layout, host).read_text()))
    except (FileNotFoundError, json.JSONDecodeError, KeyError, TypeError):
        return Release.initial()


def write_release(layout: LabLayout, host: str, release: Release) -> None:
    path = release_file(layout, host)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(release.to_dict()) + "\n")
    tmp.replace(path)


def apply_release(daemon: Daemon, layout: LabLayout) -> None:
    """Point an API host's process at its installed release before it starts."""
    release = read_release(layout, daemon.name)
    daemon.argv = [release.python, *list(daemon.argv)[1:]]
    daemon.env = {**daemon.env, "CHAIRSIDE_RELEASE": release.label}


@dataclass
class LabHosts:
    """:class:`chairside.ops.deploy.rolling.HostControl` for the lab's API hosts."""

    layout: LabLayout
    _old_pids: dict[str, int] = field(default_factory=dict)

    def release_of(self, host: ApiHost) -> Release:
        return read_release(self.layout, host.name)

    def install(self, host: ApiHost, release: Release) -> None:
        # Recorded first: whatever happens next, the supervisor starts it on ``release``.
        write_release(self.layout, host.name, release)
        pid = host_pid(self.layout, host.name)
        self._old_pids[host.name] = pid
        self.layout.mark_down(host.name)  # the supervisor must not restart it half-way
        try:
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
            while not _gone(pid):
                if time.monotonic() > deadline:
                    raise ComponentError(
                        f"{host.name} (pid {pid}) did not stop within {STOP_TIMEOUT_SECONDS:.0f} s"
                    )
                time.sleep(0.1)
        except ProcessLookupError:
            pass
        finally:
            self.layout.mark_up(host.name)  # the supervisor starts it on ``release``

    def start_failure(self, host: ApiHost) -> str | None:
        """The process the supervisor started after :meth:`install` already exited."""
        pids = self.layout.read_state().get("pids")
        pid = pids.get(host.name) if isinstance(pids, dict) else None
        if not isinstance(pid, int) or pid == self._old_pids.get(host.name):
            return None  # not started yet
        if _gone(pid):
            tail = self.layout.log_file(host.name).read_text(errors="replace").splitlines()[-3:]
            return f"{host.name}'s process exited while starting: {' | '.join(tail)}"
        return None


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return True
    return state == "Z"
