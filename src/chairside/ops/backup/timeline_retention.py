"""Which full backups retention keeps, timeline by timeline.

After a point-in-time restore the repository holds branches of history. The live
timeline (the live cluster's, else the newest in the archive) comes first: the policy's
count, window and minimum apply to the backups that *reach* it (:func:`backup_reach`),
newest first, wherever they were taken. Every other timeline is an abandoned branch: by
default the newest backup reaching it is kept, so the branch stays restorable; only
``--prune-abandoned`` (an explicit, separate rule) lets those go. A full backup that
reaches no timeline at all is kept only among the newest ``minimum``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from chairside.ops.backup.manifest import Manifest
from chairside.ops.restore.reach import ArchiveView, ranges_on

if TYPE_CHECKING:
    from chairside.ops.backup.retention import RetentionPolicy


@dataclass
class TimelineKeep:
    """What one timeline keeps, and why."""

    timeline: int
    live: bool
    kept: list[str] = field(default_factory=list)
    reaching: list[str] = field(default_factory=list)
    note: str = ""

    def to_dict(self) -> dict[str, object]:
        return {
            "timeline": self.timeline,
            "live": self.live,
            "kept": self.kept,
            "reaching": self.reaching,
            "note": self.note,
        }


def keep_fulls_by_timeline(
    fulls: list[Manifest],
    view: ArchiveView,
    policy: RetentionPolicy,
    *,
    live: int,
    now: datetime,
    prune_abandoned: bool,
) -> tuple[dict[str, list[str]], list[TimelineKeep]]:
    """Reasons to keep each full backup (empty: delete it) and the per-timeline summary."""
    reasons: dict[str, list[str]] = {m.id: [] for m in fulls}
    known = view.timelines(m.timeline or 1 for m in fulls)
    order = [live] + sorted((t for t in known if t != live), reverse=True)
    summary = []
    reached_any: set[str] = set()
    for timeline in order:
        reaching = [r.manifest for r in ranges_on(fulls, view, timeline=timeline)]
        reached_any.update(m.id for m in reaching)
        entry = TimelineKeep(timeline, timeline == live, reaching=[m.id for m in reaching])
        if timeline == live:
            for backup_id, why in policy.reasons(reaching, now).items():
                if why:
                    reasons[backup_id].extend(f"live timeline {live}: {w}" for w in why)
                    entry.kept.append(backup_id)
            entry.note = "the policy applies to the backups that reach the live timeline"
        elif not reaching:
            entry.note = "no backup reaches it"
        elif prune_abandoned:
            entry.note = "abandoned branch: nothing kept for it (--prune-abandoned)"
        else:
            newest = reaching[0].id
            reasons[newest].append(
                f"newest backup reaching abandoned timeline {timeline} (kept until "
                "`backup prune --prune-abandoned`)"
            )
            entry.kept.append(newest)
            entry.note = "abandoned branch: its newest backup is kept"
        summary.append(entry)
    unreached = sorted(
        (m for m in fulls if m.id not in reached_any), key=lambda m: m.start_time, reverse=True
    )
    # Without timeline facts (no LSNs, WAL not archived) the plain policy still applies.
    for backup_id, why in policy.reasons(unreached, now).items():
        reasons[backup_id].extend(why)
    return reasons, summary
