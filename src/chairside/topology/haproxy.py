"""What HAProxy says about its backends, from its admin socket (``show stat``)."""

from __future__ import annotations

import csv
import io
import socket
from dataclasses import dataclass
from pathlib import Path

from chairside.errors import DependencyDownError


@dataclass(frozen=True)
class BackendServer:
    """One server of one HAProxy backend and its health-check state."""

    backend: str
    server: str
    status: str  # UP, DOWN, MAINT, DRAIN, "UP 1/2", ...
    current_sessions: int
    check: str  # the last check's status and description

    @property
    def up(self) -> bool:
        return self.status.startswith("UP")

    @property
    def checked(self) -> bool:
        """At least one health check has completed (HAProxy starts every server as up)."""
        return bool(self.check) and not self.check.startswith("INI")

    def to_dict(self) -> dict[str, object]:
        return {
            "backend": self.backend,
            "server": self.server,
            "status": self.status,
            "sessions": self.current_sessions,
            "check": self.check,
        }


def haproxy_command(sock: Path, command: str, *, timeout: float = 2.0) -> str:
    """Send one command to HAProxy's admin socket and return its answer."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(timeout)
            conn.connect(str(sock))
            conn.sendall(command.encode() + b"\n")
            chunks = []
            while chunk := conn.recv(65536):
                chunks.append(chunk)
    except OSError as exc:
        raise DependencyDownError(f"HAProxy's admin socket {sock} does not answer: {exc}") from None
    return b"".join(chunks).decode(errors="replace")


def backend_servers(sock: Path) -> list[BackendServer]:
    """Every server of every backend (frontends and the backend totals left out)."""
    text = haproxy_command(sock, "show stat").lstrip("# ")
    servers = []
    for row in csv.DictReader(io.StringIO(text)):
        name = row.get("svname", "")
        if name in {"FRONTEND", "BACKEND", ""}:
            continue
        servers.append(
            BackendServer(
                backend=row.get("pxname", ""),
                server=name,
                status=row.get("status", ""),
                current_sessions=int(row.get("scur") or 0),
                check=" ".join(x for x in (row.get("check_status"), row.get("check_desc")) if x),
            )
        )
    return servers


def set_server_state(sock: Path, *, backend: str, server: str, state: str) -> None:
    """``ready``, ``drain`` or ``maint`` one server (a rolling deploy drains a host)."""
    if state not in {"ready", "drain", "maint"}:
        raise ValueError(f"state {state!r}; allowed: ready, drain, maint")
    answer = haproxy_command(sock, f"set server {backend}/{server} state {state}").strip()
    if answer:
        raise DependencyDownError(f"HAProxy refused to set {backend}/{server} {state}: {answer}")
