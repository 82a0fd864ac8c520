"""Which backups a DR repository keeps: its own policy, independent of the primary's.

A DR copy often keeps fewer backups (storage in another region costs more) or more
(a longer legal window). The rules are the primary's (:class:`RetentionPolicy`: count,
recovery window, minimum), with their own numbers; with none set, the copy keeps
everything it receives. The policy is applied to the union of what the source and the
target hold *before* copying, so a backup the target would prune is never sent.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from chairside.errors import InputError
from chairside.ops.backup.manifest import Manifest
from chairside.ops.backup.retention import RetentionPolicy


@dataclass(frozen=True)
class DrRetentionPolicy:
    """Keep the newest ``count`` backups of each type and those the ``days`` window needs.

    Never fewer than ``minimum`` per type. No count and no days means: keep everything.
    """

    count: int | None = None
    days: float | None = None
    minimum: int = 1

    def __post_init__(self) -> None:
        if self.count is not None and self.count < 1:
            raise InputError(f"DR retention count {self.count} must be at least 1", field="keep")
        if self.days is not None and self.days <= 0:
            raise InputError(
                f"DR retention window {self.days} days must be more than 0", field="keep_days"
            )

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

    def kept(self, backups: Iterable[Manifest], now: datetime) -> set[str]:
        """The ids to keep among ``backups`` (the primary's rules, this copy's numbers)."""
        manifests = {m.id: m for m in backups}
        if self.keeps_everything:
            return set(manifests)
        rules = RetentionPolicy(
            count=self.count or 0,
            window=timedelta(days=self.days or 0),
            minimum=self.minimum,
        )
        keep: set[str] = set()
        for backup_type in {m.type for m in manifests.values()}:
            of_type = [m for m in manifests.values() if m.type == backup_type]
            keep.update(i for i, why in rules.reasons(of_type, now).items() if why)
        return keep
