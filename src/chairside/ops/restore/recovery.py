"""Turning fetched backup files and staged WAL into a running, recovered cluster.

The steps PostgreSQL's documentation prescribes, done carefully:

1. unpack ``base.tar.zst`` (and ``pg_wal.tar[.zst]``) into a *new* data directory owned
   by the server user, mode 0700 (:mod:`.unpack`);
2. write ``recovery.signal`` and the recovery settings: ``restore_command`` copying from
   the staged WAL directory, the ``recovery_target_*`` of the chosen target,
   ``recovery_target_timeline``, ``recovery_target_action = promote``, and
   ``archive_mode = off`` so a restored copy never writes into the production archive;
3. start it on its own port and socket, and wait until ``pg_is_in_recovery()`` is false
   (``pg_ctl -w`` returns as soon as connections are accepted, long before a PITR ends);
   a startup process that gives up is read from the server log and named.

The restored cluster is reached through its private Unix socket, where the ``initdb``
of every Chairside cluster trusts local connections, so no password is needed.
"""

from __future__ import annotations

import os
import re
import shlex
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg

from chairside.errors import ComponentError, OperationFailedError
from chairside.ops.restore.targets import RecoveryTarget
from chairside.runtime.osuser import OsUser, hand_over
from chairside.runtime.postgres import CONF_FILE, SUPERUSER, PostgresCluster

# Settings a restored copy must not inherit from the backed-up cluster's
# postgresql.auto.conf (it would override chairside.conf, read before it).
_OVERRIDDEN = (
    "archive_mode",
    "archive_command",
    "archive_library",
    "restore_command",
    "primary_conninfo",
    "primary_slot_name",
    # A copy of a primary in sync mode would otherwise wait for a receiver on every write.
    "synchronous_standby_names",
    "recovery_target",
    "recovery_target_time",
    "recovery_target_lsn",
    "recovery_target_xid",
    "recovery_target_name",
    "recovery_target_inclusive",
    "recovery_target_timeline",
    "recovery_target_action",
    "port",
    "unix_socket_directories",
    "listen_addresses",
)
RECOVERY_KEYS = tuple(k for k in _OVERRIDDEN if k.startswith(("recovery_", "restore_")))

# What the startup process says when it gives up, and what that means for an operator.
_FATAL_REASONS = (
    (
        "recovery ended before configured recovery target was reached",
        "the archived WAL ends before the recovery target: the target lies after the last "
        "archived transaction",
    ),
    (
        "requested recovery stop point is before consistent recovery point",
        "the target lies before the end of the base backup, where the copy first becomes "
        "consistent; pick a later target or an earlier backup",
    ),
    (
        "is not a child of this server's history",
        "the requested timeline did not branch from the backup's timeline after the backup",
    ),
    (
        "could not locate required checkpoint record",
        "the backup's starting checkpoint is not in the backup or the archive",
    ),
    (
        "WAL ends before end of online backup",
        "the WAL archive ends before the backup's own end; a segment is missing",
    ),
    (
        "WAL ends before consistent recovery point",
        "the WAL archive ends before the backup becomes consistent; a segment is missing",
    ),
    ("invalid checkpoint record", "the backup's checkpoint record is damaged"),
)


class RecoveryFailedError(OperationFailedError):
    """PostgreSQL gave up recovering; the message says why, from its own log."""


@dataclass
class RestoredCluster(PostgresCluster):
    """A cluster made from a backup, reached through its private socket (local trust)."""

    def conninfo(self, dbname: str = "postgres") -> str:
        return (
            f"host={self.socket_dir} port={self.port} user={SUPERUSER} "
            f"dbname={dbname} connect_timeout=5"
        )

    def wait_ready(self, *, timeout: float = 60) -> None:
        """Wait for connections, but give up at once when the server has died.

        ``pg_ctl -w`` reports success as soon as a hot standby accepts read-only
        connections; a startup process that then gives up (target never met) takes the
        server down, and waiting out the whole timeout for it would only hide why.
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with psycopg.connect(self.conninfo(), connect_timeout=2) as conn:
                    conn.execute("SELECT 1")
                return
            except psycopg.OperationalError:
                if not self.is_running():
                    raise ComponentError(f"PostgreSQL in {self.data_dir} stopped") from None
                time.sleep(0.1)
        raise ComponentError(f"PostgreSQL in {self.data_dir} did not accept connections")


@dataclass(frozen=True)
class RecoveryOutcome:
    """Where a finished recovery ended: the new timeline, its LSN, the last replayed time."""

    timeline: int
    end_lsn: str
    last_replayed_time: str | None
    seconds: float

    def to_dict(self) -> dict[str, object]:
        return {
            "timeline": self.timeline,
            "end_lsn": self.end_lsn,
            "last_replayed_time": self.last_replayed_time,
            "seconds": round(self.seconds, 3),
        }


def prepare_recovery(
    cluster: PostgresCluster,
    *,
    restore_script: Path,
    target: RecoveryTarget,
    timeline: int,
) -> None:
    """Write ``recovery.signal`` and the settings of a copy that recovers to ``target``."""
    hand_over(cluster.socket_dir, cluster.user)
    _strip_auto_conf(cluster)
    _include_chairside_conf(cluster)
    settings = {
        "listen_addresses": cluster.host,
        "port": str(cluster.port),
        "unix_socket_directories": str(cluster.socket_dir),
        # A backup of a server Chairside did not create (Patroni's, say) carries that
        # server's logging, synchronous standbys and replication settings in its
        # postgresql.conf: the copy logs where the restore reads, and waits for no one.
        "logging_collector": "off",
        "synchronous_standby_names": "",
        "primary_slot_name": "",
        "archive_mode": "off",
        "archive_command": "",
        "primary_conninfo": "",
        # %f and %p are PostgreSQL's; a missing file makes cp fail, which is how
        # recovery learns that the archive ends there.
        "restore_command": f"{shlex.quote(str(restore_script))} %f %p",
        "recovery_target_timeline": str(timeline),
        "recovery_target_action": "promote",
        "hot_standby": "on",
    }
    for name in ("hba_file", "ident_file"):  # a Patroni server names its own data dir's
        own = cluster.data_dir / ("pg_hba.conf" if name == "hba_file" else "pg_ident.conf")
        if own.exists():
            settings[name] = str(own)
    settings.update(target.postgres_settings())
    # Unset targets must be absent, not empty: PostgreSQL counts an empty one read after
    # the real one as clearing it ("multiple recovery targets specified").
    current = {k: v for k, v in cluster.read_config().items() if k not in RECOVERY_KEYS}
    replace_config(cluster, {**current, **settings})
    for stale in ("standby.signal", "postmaster.pid", "postmaster.opts", "backup_manifest"):
        (cluster.data_dir / stale).unlink(missing_ok=True)
    signal = cluster.data_dir / "recovery.signal"
    signal.write_text("")
    _give(signal, cluster.user)


def replace_config(cluster: PostgresCluster, settings: dict[str, str]) -> None:
    """Make ``chairside.conf`` hold exactly ``settings`` (``configure`` only merges)."""
    (cluster.data_dir / CONF_FILE).write_text("")
    cluster.configure(settings)


def run_recovery(cluster: PostgresCluster, *, timeout: float = 3600) -> RecoveryOutcome:
    """Start the copy and wait until recovery has ended and it was promoted."""
    began = time.monotonic()
    log_offset = cluster.log_file.stat().st_size if cluster.log_file.exists() else 0
    try:
        cluster.start(timeout=int(min(timeout, 600)))
    except ComponentError:
        raise RecoveryFailedError(_explain(cluster, log_offset)) from None
    deadline = began + timeout
    while time.monotonic() < deadline:
        try:
            with psycopg.connect(cluster.conninfo(), connect_timeout=3, autocommit=True) as conn:
                row = conn.execute(
                    "SELECT pg_is_in_recovery(), pg_last_xact_replay_timestamp()::text"
                ).fetchone()
                assert row is not None
                if not row[0]:
                    return _outcome(conn, last_replayed=row[1], seconds=time.monotonic() - began)
        except psycopg.OperationalError:
            if not cluster.is_running():
                raise RecoveryFailedError(_explain(cluster, log_offset)) from None
        time.sleep(0.1)
    raise RecoveryFailedError(
        f"recovery in {cluster.data_dir} did not finish within {timeout:.0f}s; the copy is "
        "left running for inspection"
    )


def _outcome(
    conn: psycopg.Connection[tuple[object, ...]], *, last_replayed: object, seconds: float
) -> RecoveryOutcome:
    row = conn.execute(
        "SELECT timeline_id, pg_current_wal_lsn()::text FROM pg_control_checkpoint()"
    ).fetchone()
    assert row is not None
    return RecoveryOutcome(
        timeline=int(str(row[0])),
        end_lsn=str(row[1]),
        last_replayed_time=None if last_replayed is None else str(last_replayed),
        seconds=seconds,
    )


def recovery_log(cluster: PostgresCluster, offset: int = 0) -> str:
    """The server log written since ``offset``."""
    try:
        with cluster.log_file.open("rb") as handle:
            handle.seek(offset)
            return handle.read().decode(errors="replace")
    except FileNotFoundError:
        return ""


def _explain(cluster: PostgresCluster, offset: int) -> str:
    log = recovery_log(cluster, offset)
    fatal = [line for line in log.splitlines() if re.search(r"\b(FATAL|PANIC)\b", line)]
    for needle, meaning in _FATAL_REASONS:
        if any(needle in line for line in fatal):
            return f"PostgreSQL refused to finish the recovery: {meaning} (server said: {needle})"
    last = fatal[-1] if fatal else "\n".join(log.splitlines()[-5:])
    return f"PostgreSQL stopped during recovery of {cluster.data_dir}: {last.strip()}"


def _include_chairside_conf(cluster: PostgresCluster) -> None:
    """Make ``postgresql.conf`` read ``chairside.conf`` last (a Patroni or packaged server's
    does not, and some data directories have no postgresql.conf at all)."""
    path = cluster.data_dir / "postgresql.conf"
    include = f"include_if_exists = '{CONF_FILE}'"
    text = path.read_text() if path.exists() else ""
    if text.rstrip().endswith(include):
        return
    path.write_text(text + f"\n# A restored copy: Chairside's settings win.\n{include}\n")
    _give(path, cluster.user)


def _strip_auto_conf(cluster: PostgresCluster) -> None:
    path = cluster.data_dir / "postgresql.auto.conf"
    if not path.exists():
        return
    kept = [
        line
        for line in path.read_text().splitlines()
        if line.split("=", 1)[0].strip() not in _OVERRIDDEN
    ]
    path.write_text("\n".join(kept) + "\n")


def _give(path: Path, user: OsUser) -> None:
    if not user.is_current:
        assert user.uid is not None and user.gid is not None
        os.chown(path, user.uid, user.gid)
