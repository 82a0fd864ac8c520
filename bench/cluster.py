"""A benchmark's own PostgreSQL cluster under a scratch root, and pgbench/psql against it."""

from __future__ import annotations

import os
import secrets
import subprocess
from pathlib import Path

from chairside.runtime.ports import free_port
from chairside.runtime.postgres import PostgresCluster


def scratch_cluster(root: Path) -> PostgresCluster:
    """An initialized (not started) durable cluster in ``root/pg`` on a free port."""
    cluster = PostgresCluster(
        data_dir=root / "pg" / "data",
        port=free_port(),
        password=secrets.token_urlsafe(12),
        log_file=root / "pg" / "log" / "postgresql.log",
        socket_dir=root / "pg" / "run",
    )
    cluster.init()
    return cluster


def run_tool(cluster: PostgresCluster, tool: str, *args: str) -> str:
    """Run a PostgreSQL client program (pgbench, psql, vacuumdb) against ``cluster``."""
    result = subprocess.run(
        [
            str(cluster.bin_dir / tool),
            "-h",
            cluster.host,
            "-p",
            str(cluster.port),
            "-U",
            "postgres",
            *args,
        ],
        env=dict(os.environ, PGPASSWORD=cluster.password),
        check=True,
        capture_output=True,
        text=True,
    )
    return result.stdout
