"""``chairside up``: bring the whole service up, and take all of it down again.

Order: the embedded PostgreSQL (and Redis), migrations, demo data, then the HTTP server
in the foreground. Ctrl-C or SIGTERM stops the server, then Redis, then PostgreSQL, so
nothing is left running. After a ``kill -9`` the servers are still up; the next ``up``
adopts them (their pid files name live processes) instead of failing.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import uvicorn

from chairside import __version__
from chairside.config import Settings
from chairside.db import database_url
from chairside.errors import PortInUseError
from chairside.ops.database import migrations
from chairside.ops.metrics.exposition import prepare_multiprocess
from chairside.redis_client import describe_redis
from chairside.runtime.embedded import ClusterConfigurer, EmbeddedStack, embedded_stack
from chairside.runtime.ports import port_in_use

log = logging.getLogger("chairside.runtime")


@dataclass(frozen=True)
class ServiceInfo:
    """What ``up`` tells the operator once everything is ready."""

    api_url: str
    database: str
    redis: str | None
    home: Path
    demo: str | None

    def to_dict(self) -> dict[str, object]:
        return {
            "api_url": self.api_url,
            "web_url": f"{self.api_url}/",
            "docs_url": f"{self.api_url}/docs",
            "health_url": f"{self.api_url}/health",
            "metrics_url": f"{self.api_url}/metrics",
            "database": self.database,
            "redis": self.redis,
            "home": str(self.home),
            "demo": self.demo,
        }


def api_state_file(settings: Settings) -> Path:
    return settings.run_dir / "api.json"


BACKGROUND_STOP_SECONDS = 15


def run_service(
    settings: Settings,
    *,
    host: str,
    port: int,
    workers: int = 1,
    demo: bool = False,
    configurers: Sequence[ClusterConfigurer] = (),
    seed_demo: Callable[[str], str] | None = None,
    announce: Callable[[ServiceInfo], None] = lambda info: None,
    background: Sequence[Callable[[threading.Event], None]] = (),
) -> None:
    """Run Chairside in the foreground until interrupted; always clean up what it started.

    ``background`` tasks (the first base backup, the ops schedule) start once the service
    is up, each in its own thread with a stop event; at shutdown the event is set and
    each gets ``BACKGROUND_STOP_SECONDS`` to end before PostgreSQL stops.
    """
    if port_in_use(port, host):
        raise PortInUseError(
            f"port {port} on {host} is taken, so the API cannot listen there; stop what uses "
            "it or pick another with --port (or CHAIRSIDE_PORT)"
        )
    _raise_keyboard_interrupt_on_sigterm()
    stop = threading.Event()
    started: list[threading.Thread] = []
    stack: EmbeddedStack | None = embedded_stack(settings) if settings.embedded else None
    state_file = api_state_file(settings)
    up_recorded = False
    try:
        if stack is not None:
            stack.start(configurers)
        url = database_url(settings)
        migrations.upgrade(url=url)
        if stack is not None:
            _install_statement_stats(url)
        demo_summary = seed_demo(url) if demo and seed_demo else None
        info = ServiceInfo(
            api_url=f"http://{host}:{port}",
            database=_without_password(url),
            redis=describe_redis(settings),
            home=settings.home,
            demo=demo_summary,
        )
        state_file.parent.mkdir(parents=True, exist_ok=True)
        state_file.write_text(json.dumps({"pid": os.getpid(), "host": host, "port": port}))
        _record(settings, "service.up", f"serving on {info.api_url} with {workers} worker(s)",
                {"api_url": info.api_url, "workers": workers, "pid": os.getpid(),
                 "version": __version__, "demo": demo})  # fmt: skip
        up_recorded = True
        announce(info)
        for task in background:
            thread = threading.Thread(
                target=task, args=(stop,), name=getattr(task, "__name__", "task"), daemon=True
            )
            thread.start()
            started.append(thread)
        prepare_multiprocess(settings.run_dir, workers=workers)
        uvicorn.run(
            "chairside.api.factory:create_app_from_env",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level="warning",
            access_log=False,
            lifespan="on",
            # X-Forwarded-For is the app's to judge (CHAIRSIDE_TRUSTED_PROXIES), not
            # uvicorn's, which by default believes it from loopback.
            proxy_headers=False,
        )
    finally:
        # Background work (the schedule's jobs) uses the database: it ends before the
        # database does, each task told to stop and given a moment to do so.
        stop.set()
        for thread in started:
            thread.join(timeout=BACKGROUND_STOP_SECONDS)
        state_file.unlink(missing_ok=True)
        if stack is not None:
            stack.stop()
        if up_recorded:
            _record(settings, "service.stopped", f"stopped serving on {host}:{port}",
                    {"pid": os.getpid()})  # fmt: skip


def _record(settings: Settings, kind: str, summary: str, details: dict[str, object]) -> None:
    """Starts and stops on the timeline; an ops store that fails never stops `up`."""
    from chairside.ops.timeline.store import open_ops_store

    try:
        open_ops_store(settings).record(kind, summary, details=details)
    except Exception:  # noqa: BLE001 - the timeline is a record, not a dependency of serving
        log.warning("could not record %s on the ops timeline", kind, exc_info=True)


def _raise_keyboard_interrupt_on_sigterm() -> None:
    """Treat SIGTERM like Ctrl-C, so the ``finally`` clean-up runs either way."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


def _without_password(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def _install_statement_stats(url: str) -> None:
    """The embedded cluster preloads pg_stat_statements; its database gets the extension,
    so ``chairside db slow-queries`` works out of the box."""
    from chairside.db import make_engine
    from chairside.ops.database.statistics import install_statement_stats

    engine = make_engine(url, pool_size=1)
    try:
        with engine.connect() as conn:
            install_statement_stats(conn)
    finally:
        engine.dispose()
