"""A local ``redis-server`` for rate limits, revocation cache and slot holds.

Redis here keeps nothing on disk: PostgreSQL is the guarantee, Redis only speeds
things up, so losing its contents on a restart is by design.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import redis

from chairside.errors import ComponentError, PortInUseError
from chairside.runtime.ports import port_in_use


@dataclass
class RedisServer:
    """One ``redis-server`` on loopback ``port``, its pid file and log under ``run_dir``."""

    binary: Path
    port: int
    run_dir: Path
    log_file: Path
    host: str = "127.0.0.1"

    @property
    def pid_file(self) -> Path:
        return self.run_dir / f"redis-{self.port}.pid"

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    def pid(self) -> int | None:
        """The pid of our server, if its pid file names a live redis-server."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except FileNotFoundError:
            return None
        return pid if b"redis-server" in cmdline else None

    def is_running(self) -> bool:
        return self.pid() is not None

    def start(self, *, timeout: float = 10) -> None:
        """Start the server (or adopt ours if it still runs) and wait for PING."""
        if self.is_running():
            self.wait_ready(timeout=timeout)
            return
        self.pid_file.unlink(missing_ok=True)  # stale, from a crash
        if port_in_use(self.port, self.host):
            raise PortInUseError(
                f"port {self.port} on {self.host} is taken by another program, so Redis cannot "
                "start there; stop that program or choose another port (CHAIRSIDE_REDIS_PORT)"
            )
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        argv = [
            str(self.binary),
            "--port", str(self.port),
            "--bind", self.host,
            "--save", "",
            "--appendonly", "no",
            "--daemonize", "yes",
            "--pidfile", str(self.pid_file),
            "--logfile", str(self.log_file),
            "--dir", str(self.run_dir),
        ]  # fmt: skip
        result = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=30)
        if result.returncode != 0:
            raise ComponentError(f"redis-server did not start: {result.stderr.strip()}")
        self.wait_ready(timeout=timeout)

    def wait_ready(self, *, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        client = redis.Redis(host=self.host, port=self.port, socket_timeout=1)
        try:
            while time.monotonic() < deadline:
                try:
                    if client.ping():
                        return
                except redis.RedisError:
                    time.sleep(0.05)
        finally:
            client.close()
        raise ComponentError(f"redis-server on port {self.port} did not answer within {timeout}s")

    def stop(self, *, timeout: float = 10) -> None:
        """Stop our server by its own pid; nothing else is touched."""
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
            if _is_zombie(pid):
                break
            time.sleep(0.05)
        else:
            if Path(f"/proc/{pid}").exists():
                os.kill(pid, signal.SIGKILL)
        self.pid_file.unlink(missing_ok=True)


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except (FileNotFoundError, IndexError):
        return True
