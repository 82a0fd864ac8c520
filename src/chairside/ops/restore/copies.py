"""Restored copies: the clusters ``restore ... --to`` (or a plain copy) leaves running.

Each copy is registered when its restore succeeds, in ``$CHAIRSIDE_HOME/restores/
copies/<id>.json`` (its data directory, port and companions), so that a copy made into
any ``--to DIR`` can be found again. ``restore copies`` lists them with their age, size
and whether their server runs; ``restore copies remove`` stops each server (as the
server user, ``postgres`` when run as root, as the restore started it) and deletes the
copy; ``maintenance system`` reports them and expires those older than
``CHAIRSIDE_RESTORE_COPY_KEEP_HOURS``. Copies under ``$CHAIRSIDE_HOME/restores/`` made
before the registry existed are found by their layout.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from chairside.config import Settings
from chairside.errors import ChairsideError, InputError
from chairside.ops.restore.layout import RestoreLayout
from chairside.ops.restore.recovery import RestoredCluster
from chairside.ops.timeline.store import open_ops_store
from chairside.runtime.binaries import find_pg_bin_dir
from chairside.runtime.osuser import server_user


@dataclass(frozen=True)
class RestoredCopy:
    """One copy: where it lives, its port, and (when listed) its state."""

    id: str
    data_dir: Path
    port: int | None
    created_at: datetime
    paths: tuple[Path, ...] = ()  # everything removed with it (root or companions)
    size_bytes: int = 0
    running_pid: int | None = None

    @property
    def age(self) -> timedelta:
        return datetime.now(UTC) - self.created_at

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "data_dir": str(self.data_dir),
            "port": self.port,
            "created_at": self.created_at.isoformat(timespec="seconds"),
            "age_seconds": round(self.age.total_seconds()),
            "size_bytes": self.size_bytes,
            "running": self.running_pid is not None,
            "pid": self.running_pid,
        }


@dataclass
class CopyRemoval:
    """What ``restore copies remove`` (or the maintenance policy) did or would do."""

    dry_run: bool
    removed: list[dict[str, Any]] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"dry_run": self.dry_run, "removed": self.removed, "failed": self.failed}


def registry_dir(settings: Settings) -> Path:
    return settings.home / "restores" / "copies"


def register_copy(settings: Settings, layout: RestoreLayout, *, port: int, id: str) -> None:
    """Remember a copy a restore left running, so it can be listed and removed."""
    paths = (
        [layout.root]
        if layout.root is not None
        else [layout.data_dir, layout.wal_dir, layout.files_dir, layout.socket_dir, layout.log_file]
    )
    record = {
        "id": id,
        "data_dir": str(layout.data_dir),
        "port": port,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "paths": [str(p) for p in paths],
        "socket_dir": str(layout.socket_dir),
        "log_file": str(layout.log_file),
    }
    directory = registry_dir(settings)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{id}.json").write_text(json.dumps(record, indent=2) + "\n")


def list_copies(settings: Settings) -> list[RestoredCopy]:
    """Every known copy, oldest first, with its size and whether its server runs."""
    found: dict[str, RestoredCopy] = {}
    directory = registry_dir(settings)
    for path in sorted(directory.glob("*.json")) if directory.is_dir() else []:
        try:
            data = json.loads(path.read_text())
            copy = RestoredCopy(
                id=str(data["id"]),
                data_dir=Path(data["data_dir"]),
                port=int(data["port"]) if data.get("port") else None,
                created_at=datetime.fromisoformat(data["created_at"]),
                paths=tuple(Path(p) for p in data.get("paths", [])),
            )
        except (OSError, ValueError, KeyError, TypeError):
            continue
        found[str(copy.data_dir)] = copy
    # Copies under home/restores/<stamp> from before the registry.
    root = settings.home / "restores"
    for data_dir in sorted(root.glob("*/data")) if root.is_dir() else []:
        if str(data_dir) in found or data_dir.parent.name == "copies":
            continue
        found[str(data_dir)] = RestoredCopy(
            id=data_dir.parent.name,
            data_dir=data_dir,
            port=_port_of(data_dir),
            created_at=datetime.fromtimestamp(data_dir.parent.stat().st_mtime, UTC),
            paths=(data_dir.parent,),
        )
    return sorted(
        (
            RestoredCopy(
                id=c.id,
                data_dir=c.data_dir,
                port=c.port,
                created_at=c.created_at,
                paths=c.paths,
                size_bytes=sum(_size(p) for p in c.paths) if c.paths else _size(c.data_dir),
                running_pid=_running(c),
            )
            for c in found.values()
        ),
        key=lambda c: c.created_at,
    )


def remove_copies(
    settings: Settings,
    *,
    ids: list[str] | None = None,
    older_than: timedelta | None = None,
    dry_run: bool = False,
    reason: str = "restore copies remove",
) -> CopyRemoval:
    """Stop and delete the copies named (all when ``ids`` is None), or those older than
    ``older_than``; recorded as a ``restore.copies_removed`` ops event."""
    copies = list_copies(settings)
    if ids:
        known = {c.id for c in copies}
        unknown = [i for i in ids if i not in known]
        if unknown:
            raise InputError(
                f"no restored copy {', '.join(unknown)}; the copies are: "
                + (", ".join(sorted(known)) or "none"),
                field="id",
            )
        copies = [c for c in copies if c.id in ids]
    if older_than is not None:
        copies = [c for c in copies if c.age > older_than]
    result = CopyRemoval(dry_run=dry_run)
    for copy in copies:
        entry = {**copy.to_dict(), "reason": reason}
        if dry_run:
            result.removed.append(entry)
            continue
        try:
            _stop(settings, copy)
        except ChairsideError as exc:
            result.failed[copy.id] = exc.message
            continue
        for path in copy.paths or (copy.data_dir,):
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
        (registry_dir(settings) / f"{copy.id}.json").unlink(missing_ok=True)
        result.removed.append(entry)
    if not dry_run and (result.removed or result.failed):
        freed = sum(int(r["size_bytes"]) for r in result.removed)
        open_ops_store(settings).record(
            "restore.copies_removed",
            f"removed {len(result.removed)} restored cop(ies)"
            f" ({freed / 1024**2:.0f} MB): {reason}"
            + (f"; failed: {', '.join(result.failed)}" if result.failed else ""),
            status="failed" if result.failed else "ok",
            details=result.to_dict(),
        )
    return result


def _cluster(settings: Settings, copy: RestoredCopy) -> RestoredCluster:
    return RestoredCluster(
        data_dir=copy.data_dir,
        port=copy.port or 0,
        password="",
        log_file=copy.data_dir.parent / f"{copy.data_dir.name}.log",
        socket_dir=copy.data_dir.parent / f"{copy.data_dir.name}.run",
        bin_dir=find_pg_bin_dir(settings.pg_bin_dir),
        user=server_user(),
    )


def _stop(settings: Settings, copy: RestoredCopy) -> None:
    pid = _running(copy)
    if pid is None:
        return
    _cluster(settings, copy).stop(mode="fast", timeout=30)
    deadline = time.monotonic() + 10
    # The postmaster removes its pid file a moment before it exits: wait for the process.
    while _running(copy) is not None or _process_lives(pid):
        if time.monotonic() > deadline:
            raise InputError(f"the server of copy {copy.id} in {copy.data_dir} does not stop")
        time.sleep(0.1)


def _running(copy: RestoredCopy) -> int | None:
    try:
        pid = int((copy.data_dir / "postmaster.pid").read_text().splitlines()[0])
    except (OSError, ValueError, IndexError):
        return None
    try:
        return pid if Path(f"/proc/{pid}/cmdline").read_bytes().find(b"postgres") >= 0 else None
    except OSError:
        return None


def _process_lives(pid: int) -> bool:
    """Whether ``pid`` is still a running process (an exited one left unreaped is not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] not in ("Z", "X")


def _port_of(data_dir: Path) -> int | None:
    try:
        return int((data_dir / "postmaster.pid").read_text().splitlines()[3])
    except (OSError, ValueError, IndexError):
        return None


def _size(path: Path) -> int:
    try:
        if path.is_file():
            return path.stat().st_size
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())
    except OSError:
        return 0
