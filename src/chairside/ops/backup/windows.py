"""The point-in-time window of each timeline, as ``backup status`` reports it.

A timeline's window is built only from full backups that reach it (the restore's own
:func:`backup_reach`) and whose latest stored validation did not fail: each such backup
covers from its consistent end to the end of its unbroken WAL along the timeline's
history. Overlapping ranges merge into spans; what lies between two spans is a gap (a
missing segment, or no backup after one), shown as such. The live timeline comes first,
then the others, newest first. A time inside a span restores: the plan picks the same
backup, and a time after the last archived commit recovers to the chain's end.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from chairside.ops.backup.catalog import BackupCatalog
from chairside.ops.backup.manifest import Manifest
from chairside.ops.restore.reach import ArchiveView, BackupRange, ranges_on

FAILED_VALIDATION = {"failed", "critical"}


@dataclass(frozen=True)
class WindowSpan:
    """One unbroken stretch of a timeline's window."""

    earliest: datetime
    latest: datetime
    from_backup: str
    newest_wal: str | None
    cut_by: str | None  # the missing segment that ends this span, if one does

    def to_dict(self) -> dict[str, Any]:
        return {
            "earliest": self.earliest.isoformat(),
            "latest": self.latest.isoformat(),
            "from_backup": self.from_backup,
            "newest_wal": self.newest_wal,
            "cut_by_missing_wal": self.cut_by,
        }


@dataclass(frozen=True)
class PitrWindow:
    """The recoverable window of one timeline."""

    timeline: int
    earliest: datetime | None
    latest: datetime | None
    from_backup: str | None
    newest_wal: str | None
    missing: list[str] = field(default_factory=list)
    live: bool = False
    parent: int | None = None
    switch_lsn: str | None = None
    spans: list[WindowSpan] = field(default_factory=list)
    backups: list[str] = field(default_factory=list)
    excluded: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "timeline": self.timeline,
            "live": self.live,
            "parent_timeline": self.parent,
            "switch_lsn": self.switch_lsn,
            "earliest": self.earliest.isoformat() if self.earliest else None,
            "latest": self.latest.isoformat() if self.latest else None,
            "from_backup": self.from_backup,
            "newest_wal": self.newest_wal,
            "missing_wal": self.missing[:20],
            "missing_wal_count": len(self.missing),
            "spans": [s.to_dict() for s in self.spans],
            "gaps": [
                {
                    "from": a.latest.isoformat(),
                    "to": b.earliest.isoformat(),
                    "missing_wal": a.cut_by,
                }
                for a, b in zip(self.spans, self.spans[1:], strict=False)
            ],
            "backups": self.backups,
            "excluded_backups": [{"id": k, "reason": v} for k, v in self.excluded.items()],
        }


def usable_fulls(
    catalog: BackupCatalog, fulls: list[Manifest]
) -> tuple[list[Manifest], dict[str, str]]:
    """The full backups a window may count, and why the others may not."""
    usable, excluded = [], {}
    for manifest in fulls:
        result = catalog.read_validation(manifest.id)
        status = str(result.get("status")) if result else None
        if status in FAILED_VALIDATION:
            excluded[manifest.id] = f"its latest validation {status}"
        else:
            usable.append(manifest)
    return usable, excluded


def timeline_windows(
    view: ArchiveView,
    fulls: list[Manifest],
    *,
    live: int | None,
    excluded: dict[str, str] | None = None,
) -> list[PitrWindow]:
    """The window of every known timeline: the live one first, then newest first."""
    known = view.timelines(m.timeline or 1 for m in fulls)
    first = live if live in known else max(known, default=None)
    order = ([first] if first is not None else []) + sorted(
        (t for t in known if t != first), reverse=True
    )
    return [
        _window(view, fulls, timeline, live=timeline == first, excluded=excluded or {})
        for timeline in order
    ]


def _window(
    view: ArchiveView,
    fulls: list[Manifest],
    timeline: int,
    *,
    live: bool,
    excluded: dict[str, str],
) -> PitrWindow:
    ranges = sorted(ranges_on(fulls, view, timeline=timeline), key=lambda r: r.begin_time)
    spans: list[WindowSpan] = []
    for item in ranges:
        if spans and item.begin_time <= spans[-1].latest:
            if item.end_time > spans[-1].latest:
                spans[-1] = _span(item, earliest=spans[-1].earliest, first=spans[-1].from_backup)
            continue
        spans.append(_span(item))
    missing = sorted({r.chain.missing for r in ranges if r.chain.missing})
    parent = view.parent(timeline)
    return PitrWindow(
        timeline=timeline,
        earliest=spans[0].earliest if spans else None,
        latest=spans[-1].latest if spans else None,
        from_backup=spans[0].from_backup if spans else None,
        newest_wal=spans[-1].newest_wal if spans else _newest_archived(view, timeline),
        missing=missing,
        live=live,
        parent=parent.timeline if parent else None,
        switch_lsn=_lsn(parent.switch_lsn) if parent else None,
        spans=spans,
        backups=[r.backup_id for r in ranges],
        excluded=excluded,
    )


def _span(
    item: BackupRange, *, earliest: datetime | None = None, first: str | None = None
) -> WindowSpan:
    return WindowSpan(
        earliest=earliest or item.begin_time,
        latest=item.end_time,
        from_backup=first or item.backup_id,
        newest_wal=item.chain.newest_segment,
        cut_by=item.chain.missing,
    )


def _newest_archived(view: ArchiveView, timeline: int) -> str | None:
    segments = view.segments.get(timeline, {})
    return segments[max(segments)].name if segments else None


def _lsn(value: int) -> str:
    return f"{value >> 32:X}/{value & 0xFFFFFFFF:X}"
