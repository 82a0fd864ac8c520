"""How far each DR repository is behind the primary one, for ``backup status``.

A repository's lag is the age of the oldest thing the primary holds that the copy does
not: a complete backup newer than the copy's newest, or an archived WAL segment newer
than the copy's newest. It is the window of data a DR restore would lose today beyond
the primary's own RPO; zero when the copy has everything. A copy that cannot be read is
``unknown``, never "ok".

Which repositories: ``CHAIRSIDE_DR_REPOSITORIES`` plus every target a recorded sync
(ops event ``backup.sync``) wrote to.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from chairside.checks import CheckResult, CheckStatus
from chairside.config import Settings
from chairside.errors import ChairsideError
from chairside.ops.backup.catalog import BackupCatalog
from chairside.ops.backup.repository import Repository, open_repository
from chairside.ops.backup.walarchive import WAL_PREFIX, archive_time, parse_wal_key
from chairside.ops.timeline.store import open_ops_store

SYNC_EVENT_KIND = "backup.sync"


@dataclass(frozen=True)
class RepositorySnapshot:
    """The newest complete backup and newest archived WAL segment of one repository."""

    url: str
    newest_backup: str | None
    newest_backup_completed: datetime | None
    newest_wal: str | None
    newest_wal_at: datetime | None
    backups: dict[str, datetime]
    wal: dict[str, datetime | None]


@dataclass(frozen=True)
class RepositoryLag:
    """One DR repository against the primary."""

    url: str
    status: CheckStatus
    summary: str
    newest_backup: str | None = None
    newest_wal: str | None = None
    lag_seconds: float | None = None
    backups_behind: int = 0
    wal_behind: int = 0
    last_sync: str | None = None
    role: str = "dr"

    def to_dict(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "role": self.role,
            "status": self.status.value,
            "summary": self.summary,
            "newest_backup": self.newest_backup,
            "newest_wal": self.newest_wal,
            "lag_seconds": None if self.lag_seconds is None else round(self.lag_seconds, 1),
            "backups_behind": self.backups_behind,
            "wal_behind": self.wal_behind,
            "last_sync": self.last_sync,
        }

    def to_check(self) -> CheckResult:
        """The lag as a check result (name ``dr:<url>``)."""
        return CheckResult(f"dr:{self.url}", self.status, self.summary, details=self.to_dict())


def snapshot(repository: Repository) -> RepositorySnapshot:
    """Read what a repository holds (one listing of backups, one of WAL)."""
    backups = {
        entry.id: entry.completed_at or entry.start_time
        for entry in BackupCatalog(repository).list_backups()
    }
    wal: dict[str, datetime | None] = {}
    keys: dict[str, str] = {}
    for info in repository.list(WAL_PREFIX):
        parsed = parse_wal_key(info.key)
        if parsed is not None and parsed[1] is not None and len(parsed[0]) == 24:
            wal[parsed[0]] = info.modified
            keys[parsed[0]] = info.key
    newest_backup = max(backups, default=None)
    newest_wal = max(wal, default=None)
    if newest_wal is not None:  # an S3 DR copy lists upload times: ask for the archive time
        wal[newest_wal] = archive_time(repository, keys[newest_wal], wal[newest_wal])
    return RepositorySnapshot(
        url=repository.url,
        newest_backup=newest_backup,
        newest_backup_completed=backups.get(newest_backup) if newest_backup else None,
        newest_wal=newest_wal,
        newest_wal_at=wal.get(newest_wal) if newest_wal else None,
        backups=backups,
        wal=wal,
    )


def compare(
    primary: RepositorySnapshot,
    copy: RepositorySnapshot,
    *,
    settings: Settings,
    now: datetime | None = None,
    last_sync: str | None = None,
) -> RepositoryLag:
    """The copy's lag behind the primary, judged by the DR lag thresholds."""
    now = now or datetime.now(UTC)
    newer_backups = [
        at
        for b, at in primary.backups.items()
        if copy.newest_backup is None or b > copy.newest_backup
    ]
    # Names sort by timeline, then position: "newer than the copy's newest" is a string test.
    newer_wal = [
        at for name, at in primary.wal.items() if copy.newest_wal is None or name > copy.newest_wal
    ]
    missing_times = [t for t in [*newer_backups, *newer_wal] if t is not None]
    lag = 0.0 if not (newer_backups or newer_wal) else None
    if missing_times:
        lag = max(0.0, (now - min(missing_times)).total_seconds())
    if lag is None:
        status, summary = CheckStatus.UNKNOWN, "behind, but the primary gives no times"
    elif lag >= settings.dr_lag_critical_minutes * 60:
        status, summary = CheckStatus.CRITICAL, f"{_age(lag)} behind the primary"
    elif lag >= settings.dr_lag_warning_minutes * 60:
        status, summary = CheckStatus.WARNING, f"{_age(lag)} behind the primary"
    elif lag > 0:
        status, summary = CheckStatus.OK, f"{_age(lag)} behind the primary"
    else:
        status, summary = CheckStatus.OK, "in sync with the primary"
    if copy.newest_backup is None and primary.newest_backup is not None:
        status, summary = CheckStatus.CRITICAL, "holds no complete backup yet"
    return RepositoryLag(
        url=copy.url,
        status=status,
        summary=summary,
        newest_backup=copy.newest_backup,
        newest_wal=copy.newest_wal,
        lag_seconds=lag,
        backups_behind=len(newer_backups),
        wal_behind=len(newer_wal),
        last_sync=last_sync,
    )


def known_dr_repositories(settings: Settings) -> dict[str, str | None]:
    """DR repository URLs (configured, then synced to) with the time of their last sync."""
    urls: dict[str, str | None] = {
        url.strip(): None for url in settings.dr_repositories.split(",") if url.strip()
    }
    for event in reversed(open_ops_store(settings).recent(kind_prefix=SYNC_EVENT_KIND, limit=500)):
        target = event.details.get("target")
        if isinstance(target, str) and target:
            urls[target] = event.at.isoformat(timespec="seconds") + f" ({event.status})"
    return urls


def repositories_overview(
    settings: Settings, *, primary_url: str | None = None, now: datetime | None = None
) -> list[RepositoryLag]:
    """The primary repository (lag 0) followed by every known DR repository."""
    url = primary_url or settings.backup_repository_url
    primary = snapshot(open_repository(url, settings))
    head = RepositoryLag(
        url=url,
        status=CheckStatus.OK,
        summary="primary repository",
        newest_backup=primary.newest_backup,
        newest_wal=primary.newest_wal,
        lag_seconds=0.0,
        role="primary",
    )
    return [head, *dr_repository_lags(settings, primary=primary, now=now)]


def dr_repository_lags(
    settings: Settings,
    *,
    primary_url: str | None = None,
    primary: RepositorySnapshot | None = None,
    now: datetime | None = None,
) -> list[RepositoryLag]:
    """Every known DR repository's newest backup and WAL and its lag behind the primary."""
    repositories = known_dr_repositories(settings)
    if not repositories:
        return []
    if primary is None:
        url = primary_url or settings.backup_repository_url
        primary = snapshot(open_repository(url, settings))
    lags = []
    for url, last_sync in repositories.items():
        try:
            copy = snapshot(open_repository(url, settings))
        except ChairsideError as exc:
            lags.append(
                RepositoryLag(
                    url, CheckStatus.UNKNOWN, f"cannot read it: {exc.message}", last_sync=last_sync
                )
            )
            continue
        lags.append(compare(primary, copy, settings=settings, now=now, last_sync=last_sync))
    return lags


def _age(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
