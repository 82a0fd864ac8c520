"""A primary and a hot standby streaming from it, from plain clusters (no Patroni)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from chairside.runtime.osuser import hand_over, run_as
from chairside.runtime.ports import free_port
from chairside.runtime.postgres import PostgresCluster
from tests.support.servers import ClusterFactory


@dataclass
class StreamingPair:
    leader: PostgresCluster
    standby: PostgresCluster


def make_streaming_pair(cluster_factory: ClusterFactory, *, database: str) -> StreamingPair:
    """A leader with an empty ``database`` and a standby cloned from it, streaming."""
    leader = cluster_factory.make()
    # Commits wait for their WAL flush, as in production (see replica_reads).
    leader.configure({"synchronous_commit": "on"})
    leader.reload()
    leader.create_database(database)
    root = leader.data_dir.parent.parent / f"standby-{secrets.token_hex(3)}"
    root.mkdir()
    standby = PostgresCluster(
        data_dir=root / "data",
        port=free_port(),
        password=leader.password,
        log_file=root / "log" / "postgresql.log",
        socket_dir=root / "run",
    )
    hand_over(root, standby.user, mode=0o755)
    hand_over(standby.socket_dir, standby.user)
    run_as(
        standby.user,
        [
            standby.binary("pg_basebackup"),
            "-d", leader.conninfo(),
            "-D", str(standby.data_dir),
            "-R", "-X", "stream", "-c", "fast",
        ],
    )  # fmt: skip
    standby.configure({"port": str(standby.port), "unix_socket_directories": str(root / "run")})
    cluster_factory.clusters.append(standby)
    standby.start()
    return StreamingPair(leader=leader, standby=standby)
