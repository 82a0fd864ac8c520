"""The embedded default: a PostgreSQL cluster and a Redis server under CHAIRSIDE_HOME.

Layout::

    $CHAIRSIDE_HOME/
      pg/data/            the cluster (owned by postgres, mode 0700)
      pg/run/             its private Unix socket directory
      log/                postgresql.log, redis.log, chairside.log
      run/                redis pid file
      runtime.json        the ports chosen on first start, reused afterwards
      secrets/            the database superuser password (mode 0600)

Ports of 0 in the settings mean "pick a free port on first start, then keep it", so a
second ``chairside up`` finds the same cluster on the same port.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from chairside.config import Settings
from chairside.errors import ComponentError
from chairside.runtime.binaries import find_pg_bin_dir, find_redis_server
from chairside.runtime.ports import free_port
from chairside.runtime.postgres import PostgresCluster
from chairside.runtime.redis import RedisServer

DATABASE_NAME = "chairside"

ClusterConfigurer = Callable[[PostgresCluster, Settings], None]
"""Called after the cluster exists and before it starts (e.g. to turn on WAL archiving)."""


@dataclass
class EmbeddedStack:
    """The local PostgreSQL cluster and (when installed) Redis server of one home."""

    settings: Settings
    postgres: PostgresCluster
    redis: RedisServer | None

    @property
    def database_url(self) -> str:
        return self.postgres.url(DATABASE_NAME)

    @property
    def redis_url(self) -> str | None:
        """Redis's URL when this home has one (installed, not turned off), running or not.

        A stopped Redis is still the configured one: clients find it unreachable (and
        reconnect when it is back) rather than believing there is none.
        """
        return self.redis.url if self.redis else None

    def start(self, configurers: Sequence[ClusterConfigurer] = ()) -> None:
        """Create the cluster if needed, apply ``configurers``, start both servers."""
        self.postgres.init()
        for configure in configurers:
            configure(self.postgres, self.settings)
        self.postgres.start()
        self.postgres.create_database(DATABASE_NAME)
        if self.redis is not None:
            self.redis.start()

    def stop(self) -> None:
        """Stop both servers; safe to call when they are already stopped."""
        if self.redis is not None:
            self.redis.stop()
        self.postgres.stop()


def embedded_cluster_exists(settings: Settings) -> bool:
    """True once ``chairside up`` has created the cluster of this home (reads only)."""
    return (settings.home / "pg" / "data" / "PG_VERSION").exists()


def embedded_stack(settings: Settings) -> EmbeddedStack:
    """The embedded stack of ``settings.home``, with ports fixed on first use.

    Not for read-only callers before the cluster exists: it writes ``runtime.json`` and
    the superuser password (see :func:`embedded_cluster_exists`).
    """
    home = settings.home
    state = _load_state(home)
    changed = False
    if "pg_port" not in state or (settings.pg_port and settings.pg_port != state["pg_port"]):
        state["pg_port"] = settings.pg_port or free_port()
        changed = True
    redis_binary = find_redis_server(settings.redis_server_bin) if settings.embedded_redis else None
    if redis_binary and (
        "redis_port" not in state
        or (settings.redis_port and settings.redis_port != state["redis_port"])
    ):
        state["redis_port"] = settings.redis_port or free_port()
        changed = True
    if changed:
        _save_state(home, state)
    postgres = PostgresCluster(
        data_dir=home / "pg" / "data",
        port=int(state["pg_port"]),
        password=_superuser_password(home),
        log_file=home / "log" / "postgresql.log",
        socket_dir=home / "pg" / "run",
        bin_dir=find_pg_bin_dir(settings.pg_bin_dir),
    )
    redis_server = None
    if redis_binary:
        redis_server = RedisServer(
            binary=redis_binary,
            port=int(state["redis_port"]),
            run_dir=home / "run",
            log_file=home / "log" / "redis.log",
        )
    return EmbeddedStack(settings=settings, postgres=postgres, redis=redis_server)


def _load_state(home: Path) -> dict[str, int]:
    path = home / "runtime.json"
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ComponentError(f"{path} is not valid JSON ({exc}); fix or delete it") from None
    return {key: int(value) for key, value in data.items()}


def _save_state(home: Path, state: dict[str, int]) -> None:
    home.mkdir(parents=True, exist_ok=True)
    path = home / "runtime.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=2) + "\n")
    tmp.replace(path)


def _superuser_password(home: Path) -> str:
    path = home / "secrets" / "pg-password"
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.parent.chmod(0o700)
    value = secrets.token_urlsafe(24)
    path.touch(mode=0o600)
    path.write_text(value + "\n")
    return value
