"""One server process of the lab: started in its own session, stopped or killed by pid.

Every process gets a process group of its own, so a kill (an outage, as a host crash
would be) takes its children with it, and a Ctrl-C on the terminal reaches only
``chairside lab up``, which then stops everything in order.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from chairside.errors import ComponentError
from chairside.runtime.osuser import OsUser


@dataclass
class Daemon:
    """A foreground server process whose output goes to ``log_file``."""

    name: str
    role: str
    argv: Sequence[str]
    log_file: Path
    user: OsUser
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: Path = Path("/")
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> None:
        """Start the process (unless it runs); its output is appended to the log."""
        if self.alive():
            return
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        full_env = dict(os.environ)
        full_env.update(self.env)
        if not self.user.is_current:
            full_env["HOME"] = "/tmp"
            full_env["USER"] = self.user.name
        with self.log_file.open("ab") as log:
            try:
                self.process = subprocess.Popen(  # noqa: S603 - our own argv
                    list(self.argv),
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd=self.cwd,
                    env=full_env,
                    user=self.user.uid,
                    group=self.user.gid,
                    extra_groups=[] if not self.user.is_current else None,
                    start_new_session=True,
                )
            except OSError as exc:
                raise ComponentError(f"{self.name} ({self.argv[0]}) did not start: {exc}") from None
        self.started_at = time.monotonic()

    def stop(self, *, timeout: float = 20) -> None:
        """SIGTERM, then SIGKILL to the process group if it has not ended in ``timeout``."""
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        """SIGKILL the process and its group at once: the host just died."""
        process = self.process
        if process is None:
            return
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait(timeout=10)

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log yet)"
