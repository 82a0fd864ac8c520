"""Continuous archiving: PostgreSQL hands every finished WAL segment to ``chairside wal push``.

``archive_command`` runs as the server's OS user (``postgres`` when Chairside runs as
root), from the data directory, with the server's environment, not the operator's. So
the command carries everything it needs explicitly: the absolute path of the Python
that runs Chairside (``-m chairside.ops.backup.wal_cli``, which is ``chairside wal``)
and, as ``env VAR=value`` assignments, the repository, the key file and the compression
level. :func:`configure_archiving` checks, as that user, that the program is executable
and the key readable, and hands a local repository to that user, so a misconfiguration
fails when it is set up rather than silently at 3 a.m. (docs/backup.md, "Why
archive_command looks like this").
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from chairside.config import Settings
from chairside.errors import ConfigError
from chairside.ops.backup import access
from chairside.ops.backup.repository.local import LocalRepository
from chairside.runtime.osuser import OsUser, hand_over, run_as

if TYPE_CHECKING:  # psycopg is slow to import, and `wal push` never needs it
    from chairside.runtime.postgres import PostgresCluster


def chairside_program() -> Path:
    """The Python that runs this installation (archive_command runs WAL commands with it)."""
    program = Path(sys.executable)
    if not program.is_absolute() or not program.exists():
        raise ConfigError(
            f"cannot tell which Python runs chairside ({sys.executable!r}); run chairside "
            "from its installed environment so archive_command can call it"
        )
    return program


WAL_MODULE = "chairside.ops.backup.wal_cli"


def archive_environment(settings: Settings) -> dict[str, str]:
    """The settings ``wal push``/``wal fetch`` need, as environment variables."""
    env = {
        "CHAIRSIDE_HOME": str(settings.home),
        "CHAIRSIDE_BACKUP_REPOSITORY": settings.backup_repository_url,
        "CHAIRSIDE_BACKUP_COMPRESSION_LEVEL": str(settings.backup_compression_level),
    }
    if settings.backup_key_file is not None:
        env["CHAIRSIDE_BACKUP_KEY_FILE"] = str(settings.backup_key_file.absolute())
    if settings.backup_repository_url.startswith("s3://"):
        # Imported here: boto3 costs ~0.1 s, and `wal push` into a local repository
        # (once per segment) never needs it.
        from chairside.ops.backup.repository.s3 import s3_environment

        env.update(s3_environment(settings))
    return env


def wal_command(settings: Settings, action: str, *args: str) -> str:
    """A shell command for postgresql.conf: ``env VARS… PYTHON -m …wal_cli ACTION ARGS``.

    ``%`` in values is doubled because PostgreSQL expands ``%p``/``%f`` in the string.
    """
    assignments = [f"{k}={v}" for k, v in sorted(archive_environment(settings).items())]
    # `python -m …wal_cli` is `chairside wal`, minus loading every other command group:
    # PostgreSQL starts it once per segment, so start-up time is archiving throughput.
    words = ["env", *assignments, str(chairside_program()), "-m", WAL_MODULE, action]
    quoted = " ".join(shlex.quote(word).replace("%", "%%") for word in words)
    return quoted + "".join(f" {arg}" for arg in args)


def archive_command(settings: Settings) -> str:
    """The ``archive_command`` that archives into the configured repository."""
    return wal_command(settings, "push", "%p")


def restore_command(settings: Settings) -> str:
    """The ``restore_command`` that fetches from the configured repository."""
    return wal_command(settings, "fetch", "%f", "%p")


def check_server_user_can_archive(settings: Settings, user: OsUser) -> None:
    """Fail now, naming the path, if ``user`` cannot run chairside or read the key."""
    program = chairside_program()
    if not user.is_current:
        probe = run_as(user, ["test", "-x", str(program)], check=False)
        if probe.returncode != 0:
            raise ConfigError(
                f"the '{user.name}' user cannot execute {program}, so archive_command would "
                "fail; install chairside (its virtualenv) where that user can reach it "
                "(every parent directory needs o+x, e.g. not under /root)"
            )
    access.backup_key(settings)  # refuses a configured but missing key right away
    key_file = settings.backup_key_file
    if key_file is not None and not user.is_current:
        probe = run_as(user, ["test", "-r", str(key_file.absolute())], check=False)
        if probe.returncode != 0:
            raise ConfigError(
                f"the '{user.name}' user cannot read CHAIRSIDE_BACKUP_KEY_FILE={key_file}, so "
                "WAL could not be archived encrypted; give that user read access (e.g. "
                f"chgrp {user.name} {key_file}; chmod 640 {key_file})"
            )


def prepare_local_repository(settings: Settings, user: OsUser) -> None:
    """Create a local repository and give it to the server's OS user (it writes WAL)."""
    repository = access.repository(settings)
    if not isinstance(repository, LocalRepository):
        return
    root = repository.root
    root.parent.mkdir(parents=True, exist_ok=True)
    hand_over(root, user, 0o750)
    for sub in ("wal", "backups"):
        hand_over(root / sub, user, 0o750)
    if not user.is_current:
        probe = run_as(user, ["test", "-w", str(root / "wal")], check=False)
        if probe.returncode != 0:
            raise ConfigError(
                f"the '{user.name}' user cannot write to {root / 'wal'} (a parent directory "
                "is not traversable); put the repository somewhere that user can reach"
            )


def archiving_settings(settings: Settings) -> dict[str, str]:
    """The server settings that turn continuous archiving on into the repository."""
    return {
        "wal_level": "replica",
        "archive_mode": "on",
        "archive_command": archive_command(settings),
        "archive_timeout": str(settings.wal_archive_timeout_seconds),
        # streaming (pg_receivewal) needs a WAL sender and a slot even in archive mode
        "max_wal_senders": "10",
        "max_replication_slots": "10",
    }


def configure_archiving(cluster: PostgresCluster, settings: Settings) -> None:
    """A ClusterConfigurer: archive every WAL segment into the configured repository.

    Applied before the cluster starts (``chairside up``); on a running cluster the
    archive_mode change needs a restart.
    """
    if settings.wal_mode == "off":
        cluster.configure({"archive_mode": "off"})
        return
    check_server_user_can_archive(settings, cluster.user)
    prepare_local_repository(settings, cluster.user)
    if settings.backup_repository_url.startswith("s3://"):
        from chairside.ops.backup.repository.s3 import write_credentials_file

        user = cluster.user
        owner = None if user.is_current or user.uid is None else (user.uid, user.gid or 0)
        write_credentials_file(settings, owner=owner)
    cluster.configure(archiving_settings(settings))
