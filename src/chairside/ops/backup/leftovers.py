"""Unfinished writes a killed process left in a local repository (``.tmp-*.part``).

Every object is written to a ``.tmp-<random>.part`` file beside its key and renamed in
when complete, so a backup or ``wal push`` killed mid-upload leaves such a file behind.
Listings skip them (they are never objects), so nothing else would ever remove them.
``backup list --all`` and ``backup status`` show them, ``backup prune`` removes them (under
its exclusive lock): all but files some live process still has open (``archive_command``
takes no lock) or that changed in the last minute.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from chairside.ops.backup.repository import Repository
from chairside.ops.backup.repository.local import LocalRepository

QUIET_SECONDS = 60.0


@dataclass(frozen=True)
class Leftover:
    """One unfinished write."""

    path: Path
    size: int
    modified: float = 0.0  # mtime: when the killed process last wrote to it

    def to_dict(self) -> dict[str, object]:
        return {"path": str(self.path), "size": self.size}

    def report(self, *, now: float) -> dict[str, object]:
        """``{path, size, modified, age_seconds}`` for ``backup list --all`` and status."""
        return {
            **self.to_dict(),
            "modified": datetime.fromtimestamp(self.modified, UTC).isoformat(),
            "age_seconds": round(max(0.0, now - self.modified)),
        }


def find_leftovers(repository: Repository, *, now: float | None = None) -> list[Leftover]:
    """The ``.tmp-*.part`` files no live process holds (local repositories only)."""
    if not isinstance(repository, LocalRepository) or not repository.root.is_dir():
        return []
    current = now if now is not None else time.time()
    found = []
    for dirpath, _dirs, files in os.walk(repository.root):
        for name in files:
            if not (name.startswith(".tmp-") and name.endswith(".part")):
                continue
            path = Path(dirpath) / name
            try:
                info = path.stat()
            except FileNotFoundError:
                continue  # renamed in meanwhile: a live write finished
            if current - info.st_mtime >= QUIET_SECONDS:
                found.append(Leftover(path, info.st_size, info.st_mtime))
    if not found:
        return []
    held = _open_files()
    return [f for f in found if str(f.path) not in held]


def remove_leftovers(leftovers: list[Leftover]) -> None:
    """Delete them (a file that vanished meanwhile is fine)."""
    for leftover in leftovers:
        leftover.path.unlink(missing_ok=True)


def _open_files() -> set[str]:
    """Paths some process has open, from ``/proc/*/fd`` (what this user may read)."""
    held: set[str] = set()
    for fd_dir in Path("/proc").glob("[0-9]*/fd"):
        try:
            entries = list(fd_dir.iterdir())
        except OSError:
            continue
        for entry in entries:
            try:
                held.add(os.readlink(entry))
            except OSError:
                continue
    return held
