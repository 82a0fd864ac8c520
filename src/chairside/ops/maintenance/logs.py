"""Log rotation for the files under ``$CHAIRSIDE_HOME/log`` (PostgreSQL, Redis, Chairside).

A file over ``max_bytes`` is copied into ``<name>-<UTC stamp>.log.zst`` (zstd), made
durable, and only then truncated in place. Truncating rather than renaming is what lets
the writers (PostgreSQL started by ``pg_ctl -l``, Redis) keep their open, append-mode
file without being signalled; the cost, as with logrotate's ``copytruncate``, is that a
line written between the copy and the truncation is lost. Rotations older than ``keep``
are deleted; files of any other name are never touched.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import zstandard

from chairside.checks import CheckResult, CheckStatus
from chairside.config import Settings
from chairside.ops.backup.repository.local import fsync_dir

MAX_BYTES = 50 * 1024 * 1024
KEEP = timedelta(days=14)
_ROTATED = re.compile(r"^(?P<stem>.+)-(?P<stamp>\d{8}T\d{6}Z)\.log\.zst$")


@dataclass
class LogRotation:
    """Files rotated (with sizes before and after compression) and rotations deleted."""

    directory: Path
    dry_run: bool
    rotated: list[dict[str, Any]] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    kept_bytes: int = 0

    def check(self) -> CheckResult:
        verb = "would rotate" if self.dry_run else "rotated"
        before = sum(int(r["bytes"]) for r in self.rotated)
        after = sum(int(r.get("compressed_bytes", 0)) for r in self.rotated)
        summary = f"{verb} {len(self.rotated)} log file(s)"
        if self.rotated and not self.dry_run:
            summary += f" ({_mb(before)} -> {_mb(after)} compressed)"
        summary += (
            f", {'would delete' if self.dry_run else 'deleted'} {len(self.deleted)} old"
            f" rotation(s); {_mb(self.kept_bytes)} of rotations kept in {self.directory}"
        )
        return CheckResult("logs", CheckStatus.OK, summary, details=self.to_dict())

    def to_dict(self) -> dict[str, Any]:
        return {
            "directory": str(self.directory),
            "dry_run": self.dry_run,
            "rotated": self.rotated,
            "deleted": self.deleted,
            "kept_bytes": self.kept_bytes,
        }


def rotate_logs(
    settings: Settings,
    *,
    max_bytes: int = MAX_BYTES,
    keep: timedelta = KEEP,
    dry_run: bool = False,
    now: datetime | None = None,
) -> LogRotation:
    """Compress and truncate logs over ``max_bytes``; delete rotations older than ``keep``."""
    moment = now or datetime.now(UTC)
    directory = settings.home / "log"
    result = LogRotation(directory=directory, dry_run=dry_run)
    if not directory.is_dir():
        return result
    for path in sorted(directory.glob("*.log")):
        size = path.stat().st_size
        if size <= max_bytes:
            continue
        target = directory / f"{path.stem}-{moment.strftime('%Y%m%dT%H%M%SZ')}.log.zst"
        entry: dict[str, Any] = {"file": path.name, "bytes": size, "rotated_to": target.name}
        if not dry_run:
            entry["compressed_bytes"] = _copy_compressed(path, target)
            _truncate(path)
        result.rotated.append(entry)
    cutoff = (moment - keep).timestamp()
    for path in sorted(directory.glob("*.log.zst")):
        if not _ROTATED.match(path.name):
            continue
        if path.stat().st_mtime < cutoff:
            result.deleted.append(path.name)
            if not dry_run:
                path.unlink()
        else:
            result.kept_bytes += path.stat().st_size
    return result


def _copy_compressed(source: Path, target: Path) -> int:
    """Write ``source`` compressed to ``target`` atomically and durably; its size."""
    part = target.with_name(f".{target.name}.part")
    with source.open("rb") as reader, part.open("wb") as raw:
        with zstandard.ZstdCompressor(level=10).stream_writer(raw, closefd=False) as writer:
            while chunk := reader.read(1 << 20):
                writer.write(chunk)
        raw.flush()
        os.fsync(raw.fileno())
    part.replace(target)
    fsync_dir(target.parent)
    return target.stat().st_size


def _truncate(path: Path) -> None:
    with path.open("r+b") as handle:
        handle.truncate(0)


def _mb(value: int) -> str:
    return f"{value / 1024 / 1024:.1f} MB"
