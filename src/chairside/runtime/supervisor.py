"""Keeping the embedded servers up while ``chairside up`` serves, as systemd would.

Every second the supervisor looks at PostgreSQL and Redis (their pid files naming live
processes). One that died is started again with exponential backoff (1 s, 2 s, 4 s …
up to ``MAX_BACKOFF_SECONDS``), and each death and each return is an alert: an ops
event and, when configured, a notification. ``up`` therefore never serves on without
its database silently. After PostgreSQL is back, ``after_restart`` hooks run (the WAL
watch forces a segment switch, so what was written before the crash is archived at
once). While ``paused`` says so (an in-place restore holds the ``restore`` lock: it stops
PostgreSQL and swaps its data directory on purpose) nothing is restarted. ``ticks`` are
the periodic checks that need the running cluster (the WAL watch,
the synchronous-mode policy); one that fails is logged and tried again next second.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from chairside.errors import ChairsideError
from chairside.runtime.embedded import EmbeddedStack

MAX_BACKOFF_SECONDS = 30.0

Alert = Callable[[str, str, str], None]
"""``alert(kind, summary, severity)`` with severity ``critical``, ``warning`` or ``ok``."""

log = logging.getLogger("chairside.supervisor")


@dataclass
class _Watched:
    """One server under watch: how to tell it runs, how to start it, its backoff."""

    name: str
    running: Callable[[], bool]
    start: Callable[[], None]
    down_since: float | None = None
    next_attempt: float = 0.0
    backoff: float = 1.0
    attempts: int = 0


class Supervisor:
    """Restarts the embedded PostgreSQL and Redis when they die; runs periodic ticks."""

    def __init__(
        self,
        stack: EmbeddedStack,
        *,
        alert: Alert,
        ticks: Sequence[Callable[[], object]] = (),
        after_restart: Sequence[Callable[[], object]] = (),
        interval: float = 1.0,
        paused: Callable[[], bool] = lambda: False,
    ) -> None:
        self.stack = stack
        self.alert = alert
        self.ticks = list(ticks)
        self.after_restart = list(after_restart)
        self.interval = interval
        self.paused = paused
        self.restarts: dict[str, int] = {}
        self.watched = [_Watched("postgresql", stack.postgres.is_running, stack.postgres.start)]
        redis = stack.redis
        if redis is not None:
            self.watched.append(_Watched("redis", redis.is_running, redis.start))

    def run(self, stop: threading.Event) -> None:
        """Watch until ``stop`` is set (``up`` sets it before stopping the servers)."""
        while not stop.wait(self.interval):
            self.check_once()

    def check_once(self) -> None:
        """Look at every server once, restart what is down, then run the ticks."""
        if self.paused():
            return  # an in-place restore stops and swaps PostgreSQL on purpose
        for server in self.watched:
            if self._keep_up(server) and server.name == "postgresql":
                for hook in self.after_restart:
                    _guarded(hook)
        if all(s.down_since is None for s in self.watched[:1]):
            for tick in self.ticks:
                _guarded(tick)

    def _keep_up(self, server: _Watched) -> bool:
        """True when the server was just brought back."""
        now = time.monotonic()
        if server.running():
            return False
        if server.down_since is None:
            server.down_since = now
            server.next_attempt = now
            self.alert(
                f"runtime.{server.name}.down",
                f"embedded {server.name} stopped unexpectedly; restarting it",
                "critical",
            )
        if now < server.next_attempt:
            return False
        server.attempts += 1
        try:
            server.start()
        except (ChairsideError, OSError) as exc:
            server.next_attempt = now + server.backoff
            message = exc.message if isinstance(exc, ChairsideError) else str(exc)
            log.warning(
                "restarting %s failed (attempt %d, next in %.0f s): %s",
                server.name, server.attempts, server.backoff, message,
            )  # fmt: skip
            server.backoff = min(server.backoff * 2, MAX_BACKOFF_SECONDS)
            return False
        down = now - server.down_since
        self.restarts[server.name] = self.restarts.get(server.name, 0) + 1
        self.alert(
            f"runtime.{server.name}.restarted",
            f"embedded {server.name} is back after {time.monotonic() - server.down_since:.1f} s "
            f"({server.attempts} attempt{'s' if server.attempts != 1 else ''})",
            "ok",
        )
        log.info("%s restarted after %.1f s down", server.name, down)
        server.down_since = None
        server.backoff = 1.0
        server.attempts = 0
        return True


def _guarded(action: Callable[[], object]) -> None:
    try:
        action()
    except Exception as exc:  # noqa: BLE001 - one failing check must not stop the watch
        log.warning("supervisor task %s failed: %s", getattr(action, "__name__", action), exc)
