"""The named locks that keep backups, restores, validations, syncs and retention apart.

Every operation that reads or writes a repository holds its repository lock (docs/backup.md
lists them):

- ``backup-repo-<hash>`` **shared** by readers and writers (backups, restore,
  validation, sync); **exclusive** by ``backup prune``, which therefore never deletes
  what another operation is using, and is refused while one runs.
- ``backup-full`` / ``backup-logical`` / ``backup-schema`` **exclusive**: one backup of
  each type at a time (a second one is refused, not queued).

``<hash>`` is the first 12 hex of the SHA-256 of the repository URL, so a local path and
an S3 bucket get different locks, and the name is a valid lock file name.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from chairside.ops.locks import LockMode, named_lock


def repository_lock_name(url: str) -> str:
    """The lock every user of the repository at ``url`` holds (shared) and prune (exclusive)."""
    return "backup-repo-" + hashlib.sha256(url.encode()).hexdigest()[:12]


@contextmanager
def repository_lock(home: Path, url: str, *, mode: LockMode, purpose: str) -> Iterator[None]:
    """Hold the repository lock of ``url`` in ``mode`` for the block."""
    with named_lock(home, repository_lock_name(url), mode=mode, purpose=purpose):
        yield


@contextmanager
def backup_type_lock(home: Path, backup_type: str) -> Iterator[None]:
    """One backup of ``backup_type`` at a time."""
    with named_lock(home, f"backup-{backup_type}", purpose=f"backup {backup_type}"):
        yield
