"""The cluster being backed up: how PostgreSQL's client tools reach it and what it is.

With ``DATABASE_URL`` that URL's server; without it, the embedded cluster under
``CHAIRSIDE_HOME`` (which must be running). A full backup may instead come from a
streaming replica (``backup full --from replica``, ``CHAIRSIDE_BACKUP_FROM=replica``):
Patroni, asked through the topology file (``CHAIRSIDE_TOPOLOGY``), names the replicas,
and :func:`replica_source` picks one, an asynchronous one first (the synchronous standby
is on every commit's path) and the least behind among them. It is reached directly, never
through HAProxy's read port: pg_basebackup opens two connections (the copy and the WAL
stream) and both must reach the same server. The password never goes on a command line
(``ps`` would show it): tools get it through ``PGPASSWORD`` in their environment.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import psycopg
from sqlalchemy.engine import make_url

from chairside.config import Settings
from chairside.db import database_url
from chairside.errors import ConfigError, DependencyDownError, NotFoundError
from chairside.runtime.binaries import find_pg_bin_dir


@dataclass(frozen=True)
class ServerFacts:
    """What a backup records about the server it came from."""

    system_identifier: str
    version_num: int
    wal_segment_size: int
    timeline: int
    archive_mode: str
    in_recovery: bool


@dataclass(frozen=True)
class SourceCluster:
    """Connection details of the cluster to back up, and the client tools to use."""

    host: str
    port: int
    user: str
    password: str | None
    dbname: str
    bin_dir: Path

    def conninfo(self, dbname: str | None = None) -> str:
        """A libpq connection string without the password."""
        return (
            f"host={self.host} port={self.port} user={self.user} "
            f"dbname={dbname or self.dbname} connect_timeout=10"
        )

    def env(self) -> dict[str, str]:
        """The environment for client tools: the current one plus the password."""
        env = dict(os.environ)
        if self.password:
            env["PGPASSWORD"] = self.password
        env.setdefault("PGAPPNAME", "chairside")
        return env

    def tool(self, name: str) -> str:
        """The full path of a client program (``pg_basebackup``, ``pg_dump``…)."""
        return str(self.bin_dir / name)

    def connect(self, *, autocommit: bool = True) -> psycopg.Connection[tuple[object, ...]]:
        """A psycopg connection; names the server when it does not answer."""
        try:
            return psycopg.connect(self.conninfo(), password=self.password, autocommit=autocommit)
        except psycopg.OperationalError as exc:
            if "does not exist" in str(exc):
                raise NotFoundError(
                    f"database {self.dbname!r} does not exist on {self.host}:{self.port}; "
                    "name an existing database (SELECT datname FROM pg_database)",
                    field="database",
                ) from None
            raise DependencyDownError(
                f"PostgreSQL at {self.host}:{self.port} does not answer ({str(exc).strip()}); "
                "start it (chairside up) or check DATABASE_URL"
            ) from None

    def facts(self) -> ServerFacts:
        """System identifier, version, WAL segment size and current timeline."""
        with self.connect() as conn:
            row = conn.execute(
                "SELECT (SELECT system_identifier FROM pg_control_system()),"
                " current_setting('server_version_num')::int,"
                " current_setting('wal_segment_size'),"
                " current_setting('archive_mode'), pg_is_in_recovery()"
            ).fetchone()
            assert row is not None
            in_recovery = bool(row[4])
            if in_recovery:
                # pg_walfile_name() refuses to run on a standby: the timeline it streams
                # (or, not streaming, of its last restart point).
                found = conn.execute(
                    "SELECT COALESCE((SELECT received_tli FROM pg_stat_wal_receiver),"
                    " (SELECT timeline_id FROM pg_control_checkpoint()))"
                ).fetchone()
                timeline = int(str(found[0])) if found and found[0] else 1
            else:
                walfile = conn.execute("SELECT pg_walfile_name(pg_current_wal_lsn())").fetchone()
                timeline = int(str(walfile[0])[:8], 16) if walfile and walfile[0] else 1
        return ServerFacts(
            system_identifier=str(row[0]),
            version_num=int(str(row[1])),
            wal_segment_size=_parse_size(str(row[2])),
            timeline=timeline,
            archive_mode=str(row[3]),
            in_recovery=in_recovery,
        )


def has_source(settings: Settings) -> bool:
    """Whether there is a cluster to ask: DATABASE_URL, or an embedded one already created.

    Read-only commands (``backup status``) check this first, so that asking about a
    repository from another host never creates an embedded home as a side effect.
    """
    return not settings.embedded or (settings.home / "pg" / "data" / "PG_VERSION").exists()


def source_cluster(settings: Settings, *, dbname: str | None = None) -> SourceCluster:
    """The cluster ``settings`` point at (DATABASE_URL, or the embedded one)."""
    url = make_url(database_url(settings))
    return SourceCluster(
        host=url.host or "127.0.0.1",
        port=url.port or 5432,
        user=url.username or "postgres",
        password=url.password if isinstance(url.password, str) else None,
        dbname=dbname or url.database or "postgres",
        bin_dir=find_pg_bin_dir(settings.pg_bin_dir),
    )


BackupOrigin = Literal["primary", "replica"]


@dataclass(frozen=True)
class ReplicaSource:
    """The replica a backup is taken from, as Patroni named it."""

    cluster: SourceCluster
    node: str
    role: str
    lag_bytes: int


def replica_source(settings: Settings, *, dbname: str | None = None) -> ReplicaSource:
    """A streaming replica of the topology's cluster, reached directly (not via HAProxy).

    Credentials and database come from ``DATABASE_URL`` (one superuser for the cluster);
    the address from Patroni. No streaming replica: an error, never the leader instead,
    since a policy of backing up from a replica is there to keep the leader unloaded.
    """
    from chairside.topology.file import load_topology
    from chairside.topology.patroni import cluster_view

    if settings.topology is None:
        raise ConfigError(
            "a backup from a replica needs the topology (CHAIRSIDE_TOPOLOGY, e.g. the lab's "
            "topology.json) to ask Patroni which replicas stream; set it, or back up from "
            "the primary (--from primary)"
        )
    view = cluster_view(load_topology(settings.topology))
    streaming = [
        m for m in view.replicas if m.state in ("running", "streaming") and m.lag_bytes is not None
    ]
    if not streaming:
        states = ", ".join(f"{m.name} {m.role} {m.state}" for m in view.replicas) or "none"
        raise DependencyDownError(
            f"no streaming replica to back up from (replicas: {states}); wait until one "
            "streams again, or back up from the primary (--from primary)"
        )
    chosen = min(streaming, key=lambda m: (m.role == "sync_standby", m.lag_bytes or 0, m.name))
    base = source_cluster(settings, dbname=dbname)
    cluster = SourceCluster(
        host=chosen.host,
        port=chosen.port,
        user=base.user,
        password=base.password,
        dbname=base.dbname,
        bin_dir=base.bin_dir,
    )
    return ReplicaSource(cluster, chosen.name, chosen.role, chosen.lag_bytes or 0)


def _parse_size(text: str) -> int:
    units = {"kB": 1024, "MB": 1024**2, "GB": 1024**3}
    for suffix, factor in units.items():
        if text.endswith(suffix):
            return int(text[: -len(suffix)]) * factor
    return int(text)
