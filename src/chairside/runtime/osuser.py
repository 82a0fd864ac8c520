"""Running server processes as the right operating-system user.

PostgreSQL refuses to run as root. When Chairside runs as root it starts PostgreSQL
(and the tools that touch its data directory) as the ``postgres`` user, which the
Debian package creates, and hands it ownership of the directories it needs.
"""

from __future__ import annotations

import os
import pwd
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from chairside.errors import ComponentError

SERVICE_USER = "postgres"


@dataclass(frozen=True)
class OsUser:
    """Whom a server process runs as: ``None`` ids mean the current user."""

    name: str
    uid: int | None
    gid: int | None

    @property
    def is_current(self) -> bool:
        return self.uid is None


def server_user() -> OsUser:
    """The current user, or ``postgres`` when running as root."""
    if os.geteuid() != 0:
        return OsUser(name=pwd.getpwuid(os.geteuid()).pw_name, uid=None, gid=None)
    try:
        entry = pwd.getpwnam(SERVICE_USER)
    except KeyError:
        raise ComponentError(
            f"running as root, but there is no '{SERVICE_USER}' user to run PostgreSQL as; "
            "install the server package (apt-get install postgresql) or run as a normal user"
        ) from None
    return OsUser(name=SERVICE_USER, uid=entry.pw_uid, gid=entry.pw_gid)


def hand_over(path: Path, user: OsUser, mode: int = 0o700) -> None:
    """Create ``path`` if needed and make it belong to ``user`` with ``mode``."""
    path.mkdir(parents=True, exist_ok=True)
    if not user.is_current:
        assert user.uid is not None and user.gid is not None
        os.chown(path, user.uid, user.gid)
    path.chmod(mode)


def run_as(
    user: OsUser,
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    check: bool = True,
    timeout: float | None = 120,
    capture: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` as ``user``; the working directory is ``/`` so no home is needed."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    if not user.is_current:
        full_env["HOME"] = "/tmp"
        full_env["USER"] = user.name
    return subprocess.run(
        list(argv),
        user=user.uid,
        group=user.gid,
        extra_groups=[] if not user.is_current else None,
        cwd="/",
        env=full_env,
        check=check,
        timeout=timeout,
        capture_output=capture,
        text=True,
    )
