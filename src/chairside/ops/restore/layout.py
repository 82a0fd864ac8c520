"""Where a restore puts things: the new data directory and its staging companions.

A restore never writes into a live data directory. It builds one new directory tree::

    <root>/data        the restored cluster (server user, 0700)
    <root>/wal         WAL staged for restore_command (removed at the end)
    <root>/files       the backup's fetched files (removed once unpacked)
    <root>/run         the copy's Unix socket directory
    <root>/postgresql.log

``<root>`` is ``$CHAIRSIDE_HOME/restores/<stamp>`` for a side-by-side copy (the
default), ``$CHAIRSIDE_HOME/pg/restore-<stamp>`` for an in-place restore (same file
system as ``pg/data``, so the final swap is a rename), or the parent of ``--to DIR``
with the companions named after it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from chairside.errors import InputError


@dataclass(frozen=True)
class RestoreLayout:
    """The paths of one restore."""

    data_dir: Path
    wal_dir: Path
    files_dir: Path
    socket_dir: Path
    log_file: Path
    root: Path | None = None  # removed as a whole when the restore is abandoned

    def to_dict(self) -> dict[str, str]:
        return {"data_dir": str(self.data_dir), "log_file": str(self.log_file)}


def stamp(now: datetime | None = None) -> str:
    """A sortable UTC stamp for directory names."""
    return f"{(now or datetime.now(UTC)):%Y%m%dT%H%M%SZ}"


def under_root(root: Path) -> RestoreLayout:
    """The layout of a restore that owns the whole ``root`` directory."""
    return RestoreLayout(
        data_dir=root / "data",
        wal_dir=root / "wal",
        files_dir=root / "files",
        socket_dir=root / "run",
        log_file=root / "postgresql.log",
        root=root,
    )


def copy_layout(home: Path, *, to: Path | None, when: str) -> RestoreLayout:
    """The layout of a side-by-side copy: ``--to DIR``, or a new directory under home."""
    if to is None:
        root = home / "restores" / when
        if root.exists():
            raise InputError(f"{root} already exists; wait a second and retry")
        return under_root(root)
    target = to.expanduser().absolute()
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise InputError(
            f"--to {target} exists and is not an empty directory; a restore only writes "
            "into a new (or empty) directory",
            field="to",
        )
    parent = target.parent
    return RestoreLayout(
        data_dir=target,
        wal_dir=parent / f".{target.name}.restore-wal",
        files_dir=parent / f".{target.name}.restore-files",
        socket_dir=parent / f"{target.name}.run",
        log_file=parent / f"{target.name}.log",
    )


def in_place_layout(home: Path, *, when: str) -> RestoreLayout:
    """The layout of an in-place restore of the embedded cluster (beside ``pg/data``)."""
    return under_root(home / "pg" / f"restore-{when}")


def previous_dir(home: Path, *, when: str) -> Path:
    """Where the replaced data directory is kept until the operator prunes it."""
    return home / "pg" / f"data.previous-{when}"


def previous_dirs(home: Path) -> list[Path]:
    """Every kept previous data directory, oldest first."""
    base = home / "pg"
    return sorted(base.glob("data.previous-*")) if base.is_dir() else []
