"""System maintenance: disk space where Chairside writes, and the debris of work that died.

Debris is only what Chairside itself leaves when a process is killed mid-way, and only
once it is older than ``stale_after``, so nothing in progress is touched:

- ``.part`` files in a local backup repository (an object whose upload never finished;
  the repository never lists them, so they only take space);
- scratch clusters of drills (``$CHAIRSIDE_HOME/drills/*``), taken only while no drill
  holds the drill lock, and never while a server still runs from one;
- restored copies (``restore ... --to``) older than ``CHAIRSIDE_RESTORE_COPY_KEEP_HOURS``
  (default 72 h): their servers stopped and their directories deleted
  (``ops/restore/copies.py``); younger ones are reported.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from chairside.checks import CheckResult, CheckStatus
from chairside.config import Settings
from chairside.errors import LockHeldError
from chairside.ops.backup.repository.base import open_repository
from chairside.ops.backup.repository.local import LocalRepository
from chairside.ops.drill.service import DRILL_LOCK, drill_root
from chairside.ops.locks import named_lock
from chairside.ops.restore import copies as restored_copies

STALE_AFTER = timedelta(hours=24)


@dataclass
class SystemCleanup:
    """Disk use of each place Chairside writes, and the debris removed."""

    dry_run: bool
    disks: list[dict[str, Any]] = field(default_factory=list)
    removed: list[dict[str, Any]] = field(default_factory=list)
    left: dict[str, str] = field(default_factory=dict)
    copies: list[dict[str, Any]] = field(default_factory=list)  # restored copies kept
    copies_expired: list[dict[str, Any]] = field(default_factory=list)
    copy_keep_hours: float | None = None

    def checks(self, *, warning: float, critical: float) -> list[CheckResult]:
        """Disk use against ``warning``/``critical`` (fractions, from the threshold table)
        and the debris removed."""
        return [self._disk_check(warning, critical), self._debris_check(), self._copies_check()]

    def _copies_check(self) -> CheckResult:
        size = sum(int(c["size_bytes"]) for c in self.copies)
        running = sum(1 for c in self.copies if c["running"])
        summary = f"{len(self.copies)} restored cop(ies) kept ({_gb(size)}, {running} running)"
        if self.copies_expired:
            verb = "would expire" if self.dry_run else "expired"
            summary += (
                f"; {verb} {len(self.copies_expired)} older than {self.copy_keep_hours:g} h: "
                + ", ".join(str(c["id"]) for c in self.copies_expired)
            )
        details: dict[str, object] = {
            "copies": self.copies,
            "expired": self.copies_expired,
            "keep_hours": self.copy_keep_hours,
        }
        return CheckResult("restored_copies", CheckStatus.OK, summary, details=details)

    def _disk_check(self, warning: float, critical: float) -> CheckResult:
        worst_disk = max(self.disks, key=lambda d: d["fraction_used"], default=None)
        if worst_disk is None:
            return CheckResult("disk", CheckStatus.UNKNOWN, "no path to measure")
        used = worst_disk["fraction_used"]
        summary = ", ".join(
            f"{d['path']} {d['fraction_used']:.0%} used ({_gb(d['free_bytes'])} free)"
            for d in self.disks
        )
        if used > critical:
            status = CheckStatus.CRITICAL
            summary += (
                f"; over {critical:.0%}: free space now (old backups: `chairside backup prune`)"
            )
        elif used > warning:
            status = CheckStatus.WARNING
            summary += f"; over the {warning:.0%} threshold"
        else:
            status = CheckStatus.OK
        return CheckResult("disk", status, summary, details={"disks": self.disks})

    def _debris_check(self) -> CheckResult:
        verb = "would remove" if self.dry_run else "removed"
        freed = sum(int(r["bytes"]) for r in self.removed)
        summary = f"{verb} {len(self.removed)} leftover(s) of interrupted work ({_gb(freed)})"
        details: dict[str, object] = {"removed": self.removed, "left": self.left}
        if self.left:
            names = "; ".join(f"{path}: {why}" for path, why in self.left.items())
            return CheckResult(
                "debris", CheckStatus.WARNING, f"{summary}; left {names}", details=details
            )
        return CheckResult("debris", CheckStatus.OK, summary, details=details)

    def to_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "disks": self.disks,
            "removed": self.removed,
            "left": self.left,
            "copies": self.copies,
            "copies_expired": self.copies_expired,
        }


def clean_system(
    settings: Settings,
    *,
    stale_after: timedelta = STALE_AFTER,
    dry_run: bool = False,
) -> SystemCleanup:
    """Measure the disks; remove partial repository files and dead drills' scratch."""
    result = SystemCleanup(dry_run=dry_run)
    cutoff = time.time() - stale_after.total_seconds()
    repository = open_repository(settings.backup_repository_url, settings)
    places = [settings.home]
    if isinstance(repository, LocalRepository):
        places.append(repository.root)
    result.disks = [_disk(path) for path in places]
    if isinstance(repository, LocalRepository) and repository.root.is_dir():
        for path in sorted(repository.root.rglob(".*.part")):
            if path.is_file() and path.stat().st_mtime < cutoff:
                _remove(path, result, kind="partial repository object")
    _clean_drills(settings, result, cutoff)
    _expire_copies(settings, result)
    return result


def _expire_copies(settings: Settings, result: SystemCleanup) -> None:
    keep = settings.restore_copy_keep_hours
    result.copy_keep_hours = keep
    if keep is not None:
        expired = restored_copies.remove_copies(
            settings,
            older_than=timedelta(hours=keep),
            dry_run=result.dry_run,
            reason=f"maintenance system: older than {keep:g} h",
        )
        result.copies_expired = expired.removed
        for copy_id, why in expired.failed.items():
            result.left[f"restored copy {copy_id}"] = why
    gone = {str(c["id"]) for c in result.copies_expired}
    result.copies = [c.to_dict() for c in restored_copies.list_copies(settings) if c.id not in gone]


def _clean_drills(settings: Settings, result: SystemCleanup, cutoff: float) -> None:
    root = drill_root(settings)
    if not root.is_dir():
        return
    try:
        with named_lock(settings.home, DRILL_LOCK, purpose="maintenance: drill leftovers"):
            for scratch in sorted(p for p in root.iterdir() if p.is_dir()):
                if scratch.stat().st_mtime >= cutoff:
                    continue
                pid = _running_postmaster(scratch)
                if pid is not None:
                    result.left[str(scratch)] = (
                        f"a server (pid {pid}) still runs from it; stop it with"
                        f" `pg_ctl -D {scratch / 'data'} stop` and run this again"
                    )
                    continue
                _remove(scratch, result, kind="drill scratch cluster")
    except LockHeldError:
        result.left[str(root)] = "a drill is running; its scratch is left alone"


def _remove(path: Path, result: SystemCleanup, *, kind: str) -> None:
    size = _size(path)
    result.removed.append({"path": str(path), "kind": kind, "bytes": size})
    if result.dry_run:
        return
    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def _running_postmaster(scratch: Path) -> int | None:
    for pid_file in scratch.rglob("postmaster.pid"):
        try:
            pid = int(pid_file.read_text().splitlines()[0])
        except (OSError, ValueError, IndexError):
            continue
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            continue
        except PermissionError:
            return pid
        return pid
    return None


def _disk(path: Path) -> dict[str, Any]:
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    usage = shutil.disk_usage(probe)
    return {
        "path": str(path),
        "total_bytes": usage.total,
        "free_bytes": usage.free,
        "fraction_used": round(usage.used / usage.total, 4) if usage.total else 0.0,
    }


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def _gb(value: int) -> str:
    return f"{value / 1024**3:.1f} GB" if value >= 1024**3 else f"{value / 1024**2:.1f} MB"
