"""Continuity: the WAL from a backup's start to the newest archived segment, unbroken.

Judged on names (integrity checks content): for the backup's timeline, and for every
later timeline whose history file says it branched from it after the backup started,
each segment recovery would read must be in the archive. A timeline with segments but
no history file is itself a break: recovery could not follow it.
"""

from __future__ import annotations

import time

from chairside.checks import CheckResult, CheckStatus
from chairside.ops.backup.manifest import Manifest
from chairside.ops.restore.plan import ArchiveView, backup_range


def check_continuity(manifest: Manifest, view: ArchiveView) -> tuple[CheckResult, list[str]]:
    """The continuity check of one full backup, and the segment names of its chain."""
    began = time.monotonic()
    orphans = sorted(t for t in view.segments if t > 1 and t not in view.histories)
    if orphans:
        names = ", ".join(f"{t:08X}.history" for t in orphans)
        return _result(
            CheckStatus.CRITICAL,
            f"timeline history file(s) {names} missing from the archive although segments of "
            "those timelines are there; recovery cannot follow them",
            began,
        ), []
    found = backup_range(manifest, view)
    if found is None:
        return _result(
            CheckStatus.CRITICAL,
            f"the WAL backup {manifest.id} needs to become consistent ({manifest.start_wal} .. "
            f"{manifest.stop_wal}) is not all in the archive",
            began,
        ), []
    chain = found.chain
    details: dict[str, object] = {
        "timeline": chain.target_timeline,
        "first_segment": chain.segments[0] if chain.segments else None,
        "last_segment": chain.newest_segment,
        "segments": len(chain.segments),
        "missing_segment": chain.missing,
    }
    if chain.missing:
        return _result(
            CheckStatus.CRITICAL,
            f"WAL segment {chain.missing} is missing from the archive in the middle of the "
            f"chain; point-in-time recovery from {manifest.id} stops at "
            f"{chain.newest_segment}",
            began,
            details,
        ), list(chain.to_fetch)
    timelines = sorted({s.timeline for s in chain.stretches})
    return _result(
        CheckStatus.OK,
        f"{len(chain.segments)} WAL segments from {chain.segments[0] if chain.segments else '-'} "
        f"to {chain.newest_segment} without a gap (timelines {', '.join(map(str, timelines))})",
        began,
        details,
    ), list(chain.to_fetch)


def _result(
    status: CheckStatus, summary: str, began: float, details: dict[str, object] | None = None
) -> CheckResult:
    return CheckResult(
        "continuity", status, summary, round((time.monotonic() - began) * 1000, 1), details or {}
    )
