"""WAL archiving and backups of the lab's Patroni cluster, into the lab's S3 repository.

Every node archives with the same ``archive_command`` as ``chairside up`` does for the
embedded cluster (``python -m chairside.ops.backup.wal_cli push %p``, with the repository
and S3 settings as ``env`` assignments and the key pair in a credentials file only the
``postgres`` user reads), set in each node's local Patroni parameters.

``archive_mode = always``, not ``on``: with ``on`` only the leader archives and a replica
marks the segments it received as done, so a segment the old leader finished but had not
archived yet when it died (the archiver runs behind the writer) is never archived by
anyone, a gap in the archive for good. With ``always`` each replica archives what it
received too; the copies are the same bytes, which ``wal push`` stores once (the
checksum is part of the key) and a different file under the same name is refused, never
overwritten. A failover then leaves: the old timeline's segments (from every node that
had them), the promoted node's ``.partial`` of the segment it switched in, the new
``.history`` file, and the new timeline from its first segment on.
"""

from __future__ import annotations

from pathlib import Path

from chairside.config import Settings, load_settings
from chairside.errors import ConfigError
from chairside.ops.backup.archiving import (
    WAL_MODULE,
    archive_command,
    chairside_program,
    check_server_user_can_archive,
)
from chairside.runtime.lab.layout import LabLayout
from chairside.runtime.osuser import OsUser, hand_over, run_as
from chairside.topology.model import Topology

ARCHIVE_MODE = "always"


def archiver_home(layout: LabLayout) -> Path:
    """The ``CHAIRSIDE_HOME`` of ``archive_command`` (its S3 credentials file)."""
    return layout.root / "pg" / "archiver"


def lab_settings(topology: Topology, layout: LabLayout, *, home: Path) -> Settings:
    """Settings of a Chairside process pointed at the lab (HAProxy, Patroni, S3)."""
    env = layout.client_environment(topology)
    overrides: dict[str, object] = {
        "home": home,
        "database_url": env["DATABASE_URL"],
        "topology": Path(env["CHAIRSIDE_TOPOLOGY"]),
    }
    if topology.s3 is not None:
        overrides.update(
            backup_repository=env["CHAIRSIDE_BACKUP_REPOSITORY"],
            s3_endpoint_url=env["CHAIRSIDE_S3_ENDPOINT_URL"],
            s3_region=env["CHAIRSIDE_S3_REGION"],
            s3_addressing_style="path",
            s3_access_key_id=env["CHAIRSIDE_S3_ACCESS_KEY_ID"],
            s3_secret_access_key=env["CHAIRSIDE_S3_SECRET_ACCESS_KEY"],
        )
    return load_settings(**overrides)


def archive_parameters(topology: Topology, layout: LabLayout) -> dict[str, object]:
    """The PostgreSQL parameters that archive every node's WAL (none without S3)."""
    if topology.s3 is None:
        return {}
    settings = lab_settings(topology, layout, home=archiver_home(layout))
    return {
        "archive_mode": ARCHIVE_MODE,
        "archive_command": archive_command(settings),
        "archive_timeout": settings.wal_archive_timeout_seconds,
    }


def prepare_archiver(topology: Topology, layout: LabLayout, user: OsUser) -> None:
    """Give ``user`` (the server's) the credentials file, and prove it can run ``wal push``.

    Checked once when the lab starts, as that user: a failing archive_command would
    otherwise only show as WAL piling up on every node.
    """
    if topology.s3 is None:
        return
    from chairside.ops.backup.repository.s3 import write_credentials_file

    home = archiver_home(layout)
    settings = lab_settings(topology, layout, home=home)
    hand_over(home, user, 0o700)
    owner = None if user.is_current or user.uid is None else (user.uid, user.gid or 0)
    write_credentials_file(settings, owner=owner)
    check_server_user_can_archive(settings, user)
    if not user.is_current:
        probe = run_as(user, [str(chairside_program()), "-c", f"import {WAL_MODULE}"], check=False)
        if probe.returncode != 0:
            raise ConfigError(
                f"the '{user.name}' user cannot import chairside with {chairside_program()} "
                f"({probe.stderr.strip()[-300:]}); archive_command would fail on every node"
            )
