"""Breach containment, part two: a new token-signing secret.

Where the secret comes from decides what can be rotated here. Outside production,
without a strong ``CHAIRSIDE_JWT_SECRET``, tokens are signed with the random secret in
``$CHAIRSIDE_HOME/jwt-secret`` (see :func:`chairside.config._development_secret`): that
file is replaced, atomically and 0600. A secret given by the environment (or ``.env``)
belongs to whoever defines that environment: rotation is refused with where to change it.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chairside.config import Settings
from chairside.errors import ConfigError, GuardRefusedError
from chairside.ops.locks import named_lock
from chairside.ops.timeline.store import open_ops_store

LOCK_NAME = "security-secret"
SECRET_FILE = "jwt-secret"
ENV_VARIABLE = "CHAIRSIDE_JWT_SECRET"
NEW_SECRET_COMMAND = "python3 -c 'import secrets; print(secrets.token_urlsafe(48))'"


@dataclass(frozen=True)
class RotationReport:
    """What ``security rotate-secret`` did (or would do)."""

    path: Path
    dry_run: bool
    replaced: bool
    next_steps: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "dry_run": self.dry_run,
            "rotated": not self.dry_run,
            "replaced_existing": self.replaced,
            "next_steps": self.next_steps,
        }


def secret_file_in_use(settings: Settings) -> Path:
    """The file the signing secret is read from; GuardRefusedError when it is not a file."""
    strong_setting = True
    try:
        # The startup rule, asked as production would, so it never creates the file.
        settings.model_copy(update={"env": "production"}).effective_jwt_secret()
    except ConfigError:
        strong_setting = False
    if strong_setting:
        where = (
            f"the environment variable {ENV_VARIABLE}"
            if ENV_VARIABLE in os.environ
            else f"{ENV_VARIABLE} in ./.env (or the process's settings)"
        )
        raise GuardRefusedError(
            f"the signing secret comes from {where}, not from a file Chairside owns; set a "
            f"new value there (generate one with: {NEW_SECRET_COMMAND}) and restart the API"
        )
    if settings.env == "production":
        raise GuardRefusedError(
            f"production has no usable signing secret ({ENV_VARIABLE} is missing or weak), so "
            f"the API refuses to start; set {ENV_VARIABLE} (generate one with: "
            f"{NEW_SECRET_COMMAND})"
        )
    return settings.home / SECRET_FILE


def rotate_secret(
    settings: Settings, *, dry_run: bool, confirm: Callable[[Path], None]
) -> RotationReport:
    """Replace the signing secret file with a new random secret; every token becomes invalid."""
    path = secret_file_in_use(settings)
    replaced = path.exists()
    steps = [
        "restart the API (stop and start `chairside up`, or your service manager) so that "
        "every worker signs and checks with the new secret",
        "every user must log in again: tokens signed with the old secret are refused",
    ]
    if dry_run:
        return RotationReport(path=path, dry_run=True, replaced=replaced, next_steps=steps)
    with named_lock(settings.home, LOCK_NAME, purpose="security rotate-secret"):
        confirm(path)
        _write_secret(path, secrets.token_urlsafe(48))
    report = RotationReport(path=path, dry_run=False, replaced=replaced, next_steps=steps)
    open_ops_store(settings).record(
        "security.rotate_secret",
        f"rotated the token-signing secret in {path}; every token is invalid",
        details=report.to_dict(),
    )
    return report


def _write_secret(path: Path, value: str) -> None:
    """Write ``value`` to ``path`` whole or not at all, readable by the owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, value.encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
