"""Throwaway PostgreSQL clusters and Redis servers for tests, through chairside.runtime."""

from __future__ import annotations

import secrets
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from chairside.runtime.binaries import find_redis_server
from chairside.runtime.ports import free_port
from chairside.runtime.postgres import PostgresCluster
from chairside.runtime.redis import RedisServer


def scratch_dir(prefix: str = "chairside-test-") -> Path:
    """A temporary directory the ``postgres`` user can traverse (pytest's tmp is 0700)."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o755)
    return path


class ClusterFactory:
    """Makes started clusters on free ports and stops every one of them at the end."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.clusters: list[PostgresCluster] = []

    def make(
        self, name: str | None = None, *, wal_segsize_mb: int | None = 1, start: bool = True
    ) -> PostgresCluster:
        """A new cluster (1 MB WAL segments by default, so archive tests stay small)."""
        root = self.base / (name or f"pg-{len(self.clusters)}-{secrets.token_hex(3)}")
        root.mkdir(parents=True)
        cluster = PostgresCluster(
            data_dir=root / "data",
            port=free_port(),
            password=secrets.token_urlsafe(12),
            log_file=root / "log" / "postgresql.log",
            socket_dir=root / "run",
        )
        cluster.init(wal_segsize_mb=wal_segsize_mb, durable=False)
        self.clusters.append(cluster)
        if start:
            cluster.start()
        return cluster

    def stop_all(self) -> None:
        """Stop every cluster made, in parallel: a suite makes dozens of them."""
        from concurrent.futures import ThreadPoolExecutor

        def stop(cluster: PostgresCluster) -> None:
            try:
                cluster.stop(mode="immediate", timeout=20)
            except Exception:  # noqa: BLE001 - clean-up goes on for the others
                pass

        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(stop, self.clusters))


@contextmanager
def redis_server(base: Path) -> Iterator[RedisServer | None]:
    """A throwaway redis-server on a free port, or None when it is not installed."""
    binary = find_redis_server("redis-server")
    if binary is None:
        yield None
        return
    server = RedisServer(
        binary=binary, port=free_port(), run_dir=base / "redis", log_file=base / "redis.log"
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


def remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def process_gone(pid: int, *, timeout: float = 5) -> bool:
    """True once ``pid`` has exited (a zombie counts: PID 1 here may reap it late)."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].split()[0]
        except (FileNotFoundError, IndexError, ProcessLookupError):
            return True
        if state == "Z":
            return True
        time.sleep(0.05)
    return False
