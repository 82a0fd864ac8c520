"""Which backups a DR repository keeps: its own policy, independent of the primary's.

A DR copy often keeps fewer backups (storage in another region costs more) or more
(a longer legal window). The rules are the primary's (:class:`RetentionPolicy`: count,
recovery window, minimum), with their own numbers; with none set, the copy keeps
everything it receives. The policy is applied to the union of what the source and the
target hold *before* copying, so a backup the target would prune is never sent.

Full backups are kept timeline by timeline exactly as ``backup prune`` keeps them
(:func:`keep_fulls_by_timeline`: the count and window apply to the backups that reach the
live timeline, and the newest backup of each abandoned branch stays), so a DR copy never
drops the backups that reach the live timeline for a newer one on an abandoned branch.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from chairside.errors import ChairsideError, InputError
from chairside.ops.backup.catalog import BackupCatalog
from chairside.ops.backup.manifest import Manifest
from chairside.ops.backup.retention import RetentionPolicy
from chairside.ops.backup.timeline_retention import keep_fulls_by_timeline
from chairside.ops.backup.walarchive import WalArchive
from chairside.ops.restore.reach import ArchiveView, view_for
from chairside.ops.restore.timelines import LiveTimeline, choose_timeline


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

    def kept(
        self,
        backups: Iterable[Manifest],
        now: datetime,
        *,
        view: ArchiveView | None = None,
        live: int | None = None,
    ) -> set[str]:
        """The ids to keep among ``backups`` (the primary's rules, this copy's numbers).

        With the source archive's ``view`` and the ``live`` timeline, full backups are
        kept per timeline (as ``backup prune`` does); without, by age alone.
        """
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
            if backup_type == "full" and view is not None and live is not None:
                reasons, _summary = keep_fulls_by_timeline(
                    of_type, view, rules, live=live, now=now, prune_abandoned=False
                )
            else:
                reasons = rules.reasons(of_type, now)
            keep.update(i for i, why in reasons.items() if why)
        return keep


def timeline_facts(
    source: BackupCatalog, fulls: list[Manifest], live: LiveTimeline | None
) -> tuple[ArchiveView | None, int | None]:
    """The source archive's view and the live timeline, chosen as ``backup prune`` does.

    The live cluster's timeline when it is this cluster's, else the newest in the archive.
    ``(None, None)`` when the history cannot be read (an encrypted archive synced
    without its key): the copy then keeps full backups by age alone.
    """
    try:
        view = view_for(WalArchive(source.repository, key=source.key), fulls)
        identity = source.require_identity()
    except ChairsideError:
        return None, None
    usable = live is not None and live.system_identifier == identity.system_identifier
    chosen = choose_timeline(
        None if usable else "latest",
        view=view,
        known=view.timelines(m.timeline or 1 for m in fulls),
        live=live,
        system_identifier=identity.system_identifier,
    )
    return view, chosen.timeline
