"""Which backups a DR repository keeps: its own policy, independent of the primary's.

A DR copy often keeps fewer backups (storage in another region costs more) or more
(a longer legal window). The policy is applied to the union of what the source and the
target hold, *before* copying, so a backup the target would prune is never sent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from chairside.errors import InputError


@dataclass(frozen=True)
class DrRetentionPolicy:
    """Keep the newest ``count`` backups of each type and every one inside ``days``.

    For full backups, "inside the window" includes the newest one started before the
    window opened, since recovering to the window's first moment starts from it. Never
    fewer than ``minimum`` per type. No count and no days means: keep everything.
    """

    count: int | None = None
    days: float | None = None
    minimum: int = 1

    def __post_init__(self) -> None:
        if self.count is not None and self.count < 1:
            raise InputError(f"DR retention count {self.count} must be at least 1", field="keep")
        if self.days is not None and self.days <= 0:
            raise InputError(f"DR retention window {self.days} days must be > 0", field="keep_days")

    @property
    def keeps_everything(self) -> bool:
        return self.count is None and self.days is None

    def describe(self) -> str:
        """The policy in words, for reports."""
        if self.keeps_everything:
            return "keep everything"
        parts = []
        if self.count is not None:
            parts.append(f"newest {self.count}")
        if self.days is not None:
            parts.append(f"{self.days:g} days")
        return "keep " + " and ".join(parts) + f" (at least {self.minimum})"

    def kept(self, backups: Sequence[tuple[str, str, datetime]], now: datetime) -> set[str]:
        """The ids to keep among ``(id, type, start_time)`` triples."""
        if self.keeps_everything:
            return {backup_id for backup_id, _type, _start in backups}
        keep: set[str] = set()
        for backup_type in {t for _id, t, _s in backups}:
            of_type = sorted((b for b in backups if b[1] == backup_type), key=lambda b: b[2])
            newest_first = list(reversed(of_type))
            keep.update(b[0] for b in newest_first[: self.minimum])
            if self.count is not None:
                keep.update(b[0] for b in newest_first[: self.count])
            if self.days is not None:
                opens = now - timedelta(days=self.days)
                inside = [b for b in of_type if b[2] >= opens]
                keep.update(b[0] for b in inside)
                before = [b for b in of_type if b[2] < opens]
                if before and backup_type == "full":
                    keep.add(before[-1][0])
        return keep
