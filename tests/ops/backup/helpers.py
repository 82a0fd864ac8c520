"""A cluster archiving into a repository of its own, as `chairside up` sets it up."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg

from chairside.config import Settings, load_settings
from chairside.ops.backup import access
from chairside.ops.backup.archiving import archive_environment, configure_archiving
from chairside.runtime.postgres import PostgresCluster
from tests.support.servers import ClusterFactory, remove_tree, scratch_dir

CHAIRSIDE = str(Path(sys.executable).parent / "chairside")


@dataclass
class BackupEnv:
    """A started cluster with archiving on, its settings, and where things live."""

    cluster: PostgresCluster
    settings: Settings
    root: Path

    @property
    def repo(self) -> Path:
        return Path(self.settings.backup_repository_url)

    def env(self) -> dict[str, str]:
        """The environment a `chairside` subprocess needs to act on this cluster."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("CHAIRSIDE_")}
        env.pop("DATABASE_URL", None)
        env.update(archive_environment(self.settings))
        env["DATABASE_URL"] = self.cluster.url("postgres")
        env["CHAIRSIDE_ENV"] = "test"
        return env

    def cli(self, *args: str, check: bool = False) -> subprocess.CompletedProcess[str]:
        """Run the real `chairside` program against this cluster."""
        return subprocess.run(
            [CHAIRSIDE, *args],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=120,
            check=check,
        )

    def sql(self, statement: str, dbname: str = "postgres") -> list[tuple[object, ...]]:
        with psycopg.connect(self.cluster.conninfo(dbname), autocommit=True) as conn:
            cursor = conn.execute(statement.encode())
            return cursor.fetchall() if cursor.description else []

    def switch_and_wait(self, timeout: float = 30) -> str:
        """Close the current segment and wait until it is archived; returns its name."""
        [(name,)] = self.sql("SELECT pg_walfile_name(pg_switch_wal())")
        archive = access.wal_archive(self.settings)
        deadline = time.monotonic() + timeout
        while not archive.find(str(name)):
            assert time.monotonic() < deadline, (
                f"{name} was not archived:\n{self.cluster.log_tail()}"
            )
            time.sleep(0.05)
        return str(name)


def make_settings(root: Path, cluster: PostgresCluster, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "env": "test",
        "home": root / "home",
        "database_url": cluster.url("postgres"),
        "backup_repository": str(root / "repo"),
        "log_json": True,
        "log_level": "WARNING",
        "wal_archive_timeout_seconds": 0,
    }
    values.update(overrides)
    return load_settings(**values)


@contextmanager
def backup_env(factory: ClusterFactory, **overrides: object) -> Iterator[BackupEnv]:
    """A fresh cluster archiving (as the postgres user) into a fresh repository."""
    root = scratch_dir("chairside-backup-")
    cluster = factory.make()
    try:
        settings = make_settings(root, cluster, **overrides)
        configure_archiving(cluster, settings)
        cluster.stop()
        cluster.start()
        yield BackupEnv(cluster, settings, root)
    finally:
        cluster.stop(mode="immediate")
        remove_tree(root)


def fake_segment(sysid: int, filler: bytes, size: int = 64 * 1024) -> bytes:
    """Bytes shaped like a WAL segment: a long page header naming ``sysid``."""
    header = struct.pack("<HHIQI4xQII", 0xD110, 0x0002 | 0x0004, 1, 0, 0, sysid, 1 << 20, 8192)
    body = (filler * (size // max(len(filler), 1) + 1))[: size - len(header)]
    return header + body
