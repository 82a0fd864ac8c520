"""The cluster being backed up: how PostgreSQL's client tools reach it and what it is.

With ``DATABASE_URL`` that URL's server; without it, the embedded cluster under
``CHAIRSIDE_HOME`` (which must be running). The password never goes on a command line
(``ps`` would show it): tools get it through ``PGPASSWORD`` in their environment.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

from chairside.config import Settings
from chairside.db import database_url
from chairside.errors import DependencyDownError, NotFoundError
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
            lsn_sql = (
                "SELECT pg_walfile_name(pg_last_wal_replay_lsn())"
                if in_recovery
                else "SELECT pg_walfile_name(pg_current_wal_lsn())"
            )
            walfile = conn.execute(lsn_sql).fetchone()
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


def _parse_size(text: str) -> int:
    units = {"kB": 1024, "MB": 1024**2, "GB": 1024**3}
    for suffix, factor in units.items():
        if text.endswith(suffix):
            return int(text[: -len(suffix)]) * factor
    return int(text)
