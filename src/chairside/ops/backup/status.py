"""``backup status``: how much data could be lost now, and how far back we can go.

Read from the repository alone (it is the catalog), plus the server when it answers:

- the last good backup of each type, and its age;
- the RPO as what would be lost now: the WAL bytes between the server's current LSN
  and the last *shipped* one (the end of the newest archived segment, or what
  Chairside's receiver has written, whichever is further), and how long ago the server
  passed that shipped LSN (:mod:`.lsn_clock`: never understated); 0 when everything
  written is shipped (an idle server produces no WAL, and that is not data at risk);
- the receivers and slots the server reports (:mod:`.replication`);
- the PITR window per timeline (:mod:`.windows`), the live timeline first;
- the newest validation result stored with a backup;
- unfinished ``.tmp-*.part`` uploads killed processes left (:mod:`.leftovers`), if any.

Thresholds come from the one table (``ops/thresholds.py``): a full backup is late after
the schedule's cadence plus grace, and the RPO limits follow the WAL mode's promise
(``archive_timeout`` when archiving, the partial push interval when streaming, 0 in sync).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from chairside.checks import CheckResult, CheckStatus, worst
from chairside.config import Settings
from chairside.errors import ChairsideError, DependencyDownError
from chairside.ops.backup import access
from chairside.ops.backup.catalog import BackupCatalog, BackupEntry
from chairside.ops.backup.leftovers import Leftover, find_leftovers
from chairside.ops.backup.lsn_clock import LsnClock
from chairside.ops.backup.manifest import Manifest
from chairside.ops.backup.replication import read_replication
from chairside.ops.backup.source import has_source, source_cluster
from chairside.ops.backup.sync.lag import repositories_overview
from chairside.ops.backup.walarchive import (
    ArchivedWal,
    WalArchive,
    format_lsn,
    parse_lsn,
    segment_number,
)
from chairside.ops.backup.windows import PitrWindow, timeline_windows, usable_fulls
from chairside.ops.restore.reach import view_for
from chairside.ops.restore.timelines import live_timeline
from chairside.ops.thresholds import backup_age_threshold, expected_rpo_seconds, rpo_threshold


@dataclass(frozen=True)
class BackupStatusReport:
    """Everything ``backup status`` shows; ``to_dict`` is the documented JSON contract."""

    checked_at: datetime
    repository: str
    system_identifier: str | None
    last_backups: dict[str, BackupEntry | None]
    complete_count: int
    incomplete: list[str]
    wal: dict[str, Any]
    pitr: list[PitrWindow]
    last_validation: dict[str, Any] | None
    checks: list[CheckResult]
    # Every repository (the primary, then DR copies) with its newest backup/WAL and lag.
    repositories: list[dict[str, Any]] = field(default_factory=list)

    @property
    def status(self) -> CheckStatus:
        return worst(c.status for c in self.checks)

    def _backup(self, entry: BackupEntry | None) -> dict[str, Any] | None:
        if entry is None or entry.manifest is None:
            return None
        data = entry.to_dict()
        data["age_seconds"] = round((self.checked_at - entry.manifest.stop_time).total_seconds())
        return data

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status.value,
            "checked_at": self.checked_at.isoformat(),
            "repository": self.repository,
            "system_identifier": self.system_identifier,
            "last_backup": self._backup(self.last_backups.get("full")),
            "last_backups": {k: self._backup(v) for k, v in self.last_backups.items()},
            "backups": {"complete": self.complete_count, "incomplete": self.incomplete},
            "wal": self.wal,
            "pitr": [w.to_dict() for w in self.pitr],
            "last_validation": self.last_validation,
            "checks": [c.to_dict() for c in self.checks],
            "repositories": self.repositories,
        }


def backup_status(settings: Settings, *, now: datetime | None = None) -> BackupStatusReport:
    """Collect the backup status of the configured repository."""
    now = now or datetime.now(UTC)
    catalog = access.catalog(settings)
    archive = access.wal_archive(settings)
    identity = catalog.require_identity()
    entries = catalog.list_backups(include_incomplete=True)
    complete = [e for e in entries if e.complete and e.manifest]
    last: dict[str, BackupEntry | None] = {"full": None, "logical": None, "schema": None}
    for entry in complete:
        assert entry.manifest is not None
        last[entry.manifest.type] = entry
    segments = archive.segments_by_timeline()
    wal = _wal_facts(settings, archive, segments, now)
    fulls = [e.manifest for e in complete if e.manifest and e.manifest.type == "full"]
    pitr = pitr_windows(catalog, archive, fulls, settings=settings)
    validation = _last_validation(catalog, complete)
    checks = [
        _backup_check(settings, last["full"], now),
        _wal_check(settings, wal),
        _pitr_check(pitr),
    ]
    incomplete = [e.id for e in entries if not e.complete]
    if incomplete:
        checks.append(
            CheckResult(
                "incomplete_backups",
                CheckStatus.OK,
                f"{len(incomplete)} incomplete backup(s) ignored (interrupted or running); "
                "`backup prune` removes them",
                details={"ids": incomplete},
            )
        )
    leftovers = find_leftovers(catalog.repository, now=now.timestamp())
    if leftovers:
        checks.append(_leftovers_check(leftovers, now))
    if validation is not None and str(validation.get("status")) in {"failed", "critical"}:
        checks.append(
            CheckResult(
                "last_validation",
                CheckStatus.WARNING,
                f"the last validation ({validation.get('backup_id')}) failed",
            )
        )
    repositories = repositories_overview(settings, primary_url=catalog.repository.url, now=now)
    checks.extend(r.to_check() for r in repositories if r.role == "dr")
    return BackupStatusReport(
        checked_at=now,
        repository=catalog.repository.url,
        system_identifier=identity.system_identifier,
        last_backups=last,
        complete_count=len(complete),
        incomplete=incomplete,
        wal=wal,
        pitr=pitr,
        last_validation=validation,
        checks=checks,
        repositories=[r.to_dict() for r in repositories],
    )


def rpo_thresholds(settings: Settings) -> tuple[float | None, float, float]:
    """``(expected, warning, critical)`` RPO in seconds for the configured WAL mode.

    Expected: what the mode promises (:func:`~chairside.ops.thresholds.expected_rpo_seconds`);
    the limits are the threshold table's ``rpo_minutes`` row, so status, health, alert
    rules and dashboards judge by the same figures.
    """
    limit = rpo_threshold(settings)
    assert limit.warning is not None and limit.critical is not None
    return expected_rpo_seconds(settings), limit.warning * 60, limit.critical * 60


def _wal_facts(
    settings: Settings,
    archive: WalArchive,
    segments: dict[int, list[ArchivedWal]],
    now: datetime,
) -> dict[str, Any]:
    newest = max((s[-1] for s in segments.values() if s), key=lambda e: e.name, default=None)
    newest = archive.archive_time(newest) if newest is not None else None
    age = (now - newest.modified).total_seconds() if newest and newest.modified else None
    pending: int | None = None
    archiver: dict[str, Any] | None = None
    shipped: int | None = None
    current: int | None = None
    basis = "archive_age"
    rpo: float | None = age
    rpo_at = now.timestamp()
    replication: dict[str, Any] | None = None
    try:
        if not has_source(settings):
            raise DependencyDownError("no cluster here")
        source = source_cluster(settings)
        facts = source.facts()
        with source.connect() as conn:
            stats = conn.execute(
                "SELECT failed_count, last_failed_wal, last_failed_time, last_archived_wal,"
                " last_archived_time, coalesce(last_failed_time > last_archived_time"
                " OR (last_archived_time IS NULL AND last_failed_time IS NOT NULL), false)"
                " FROM pg_stat_archiver"
            ).fetchone()
            server = read_replication(lambda sql: conn.execute(sql.encode()).fetchall())
            read_at = datetime.now(UTC).timestamp()  # the RPO is as of this reading
        if stats is not None:
            archiver = {
                "failed_count": stats[0],
                "last_failed_wal": stats[1],
                "last_failed_time": _iso(stats[2]),
                "last_archived_wal": stats[3],
                "last_archived_time": _iso(stats[4]),
                "failing": bool(stats[5]),
            }
        if server is not None:
            replication = server.to_dict()
            current = parse_lsn(server.current_lsn)
            size = facts.wal_segment_size
            archived_end = (segment_number(newest.name, size) + 1) * size if newest else 0
            receiver = server.receiver()
            held = (receiver.write_lsn or receiver.flush_lsn) if receiver else None
            received = parse_lsn(held) if held else 0
            shipped = max(archived_end, received)
            if newest is not None or received:
                pending = max(0, current - shipped)
            clock = LsnClock.for_settings(settings, cluster=facts.system_identifier)
            if pending == 0:
                rpo, basis = 0.0, "nothing_pending"
            elif pending is not None:
                passed = clock.passed_at(shipped)
                if passed is not None:
                    rpo, basis = max(0.0, read_at - passed), "lsn_clock"
            rpo_at = read_at
            clock.record(current, at=now.timestamp())
    except ChairsideError:
        pending = None  # the server does not answer: judge by the archive alone
        basis = "archive_only"
    expected, warning, critical = rpo_thresholds(settings)
    return {
        "mode": settings.wal_mode,
        "newest": newest.name if newest else None,
        "archived_at": newest.modified.isoformat() if newest and newest.modified else None,
        "age_seconds": None if age is None else round(age, 1),
        "pending_bytes": pending,
        "rpo_bytes": pending,
        "rpo_seconds": None if rpo is None else round(rpo, 1),
        "rpo_basis": basis,
        "rpo_at": datetime.fromtimestamp(rpo_at, UTC).isoformat(),
        "current_lsn": None if current is None else format_lsn(current),
        "shipped_lsn": None if shipped is None else format_lsn(shipped),
        "expected_rpo_seconds": expected,
        "rpo_warning_seconds": warning,
        "rpo_critical_seconds": critical,
        "segments": sum(len(s) for s in segments.values()),
        "archiver": archiver,
        "replication": replication,
    }


def _iso(value: object) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else None


def pitr_windows(
    catalog: BackupCatalog, archive: WalArchive, fulls: list[Manifest], *, settings: Settings
) -> list[PitrWindow]:
    """The window of every timeline: only from backups that reach it and did not fail."""
    if not fulls:
        return []
    usable, excluded = usable_fulls(catalog, fulls)
    view = view_for(archive, fulls)
    live = live_timeline(settings)
    identity = catalog.identity()
    on = (
        live.timeline
        if live and identity and live.system_identifier == identity.system_identifier
        else None
    )
    return timeline_windows(view, usable, live=on, excluded=excluded)


def _last_validation(catalog: BackupCatalog, complete: list[BackupEntry]) -> dict[str, Any] | None:
    newest: tuple[str, dict[str, Any]] | None = None
    for entry in complete:
        result = catalog.read_validation(entry.id)
        if result is None:
            continue
        at = str(result.get("finished_at") or result.get("validated_at") or result.get("at") or "")
        if newest is None or at >= newest[0]:
            newest = (at, {"backup_id": entry.id, **result})
    if newest is None:
        return None
    data = newest[1]
    data.setdefault("status", "unknown")
    data["at"] = newest[0] or None
    return data


def _leftovers_check(leftovers: list[Leftover], now: datetime) -> CheckResult:
    """Info (ok): unfinished uploads of killed processes take space until a prune."""
    size = sum(leftover.size for leftover in leftovers)
    return CheckResult(
        "upload_leftovers",
        CheckStatus.OK,
        f"{len(leftovers)} unfinished upload(s) of killed processes take {size} bytes; "
        "`backup prune` removes them",
        details={
            "count": len(leftovers),
            "bytes": size,
            "files": [leftover.report(now=now.timestamp()) for leftover in leftovers],
        },
    )


def _backup_check(settings: Settings, entry: BackupEntry | None, now: datetime) -> CheckResult:
    if entry is None or entry.manifest is None:
        return CheckResult("last_full_backup", CheckStatus.CRITICAL, "no complete full backup")
    hours = (now - entry.manifest.stop_time).total_seconds() / 3600
    limit = backup_age_threshold(settings)
    assert limit.warning is not None and limit.critical is not None
    status = CheckStatus.OK
    if hours > limit.critical:
        status = CheckStatus.CRITICAL
    elif hours > limit.warning:
        status = CheckStatus.WARNING
    return CheckResult(
        "last_full_backup",
        status,
        f"{entry.id}, {hours:.1f} h old (warning over {limit.warning:g} h,"
        f" critical over {limit.critical:g} h)",
        details={
            "age_hours": round(hours, 2),
            "warning_hours": limit.warning,
            "critical_hours": limit.critical,
        },
    )


def _wal_check(settings: Settings, wal: dict[str, Any]) -> CheckResult:
    if settings.wal_mode == "off":
        return CheckResult(
            "wal_archive", CheckStatus.WARNING, "WAL archiving is off: no point-in-time recovery"
        )
    if wal["newest"] is None:
        return CheckResult("wal_archive", CheckStatus.CRITICAL, "no WAL archived yet")
    rpo = wal["rpo_seconds"]
    minutes = (rpo or 0) / 60
    status = CheckStatus.OK
    if rpo is None:
        status = CheckStatus.UNKNOWN
    elif rpo > wal["rpo_critical_seconds"]:
        status = CheckStatus.CRITICAL
    elif rpo > wal["rpo_warning_seconds"]:
        status = CheckStatus.WARNING
    pending = wal["pending_bytes"]
    archiver = wal.get("archiver") or {}
    if archiver.get("failing") and status is CheckStatus.OK:
        # Failing now: the RPO is still small, but it grows from here on.
        status = CheckStatus.WARNING
    summary = (
        f"newest {wal['newest']}, archived {wal['age_seconds']:.0f} s ago; RPO {minutes:.1f} min"
    )
    if pending:
        summary += (
            f" ({pending} bytes of WAL not shipped; warning above "
            f"{wal['rpo_warning_seconds']:.0f} s in {settings.wal_mode} mode)"
        )
    if pending == 0:
        summary += " (nothing written since: RPO 0)"
    elif pending is None:
        summary += " (server not reachable: judged by the archive alone)"
    if archiver.get("failing"):
        summary += (
            f"; archive_command is failing on {archiver['last_failed_wal']} "
            f"({archiver['failed_count']} failures; see the PostgreSQL log)"
        )
    return CheckResult(
        "wal_archive", status, summary, details={"rpo_seconds": rpo, "rpo_bytes": pending}
    )


def _pitr_check(windows: list[PitrWindow]) -> CheckResult:
    usable = [w for w in windows if w.earliest is not None]
    if not usable:
        return CheckResult("pitr_window", CheckStatus.CRITICAL, "no recoverable window")
    current = windows[0]  # the live timeline's
    if current.missing:
        return CheckResult(
            "pitr_window",
            CheckStatus.CRITICAL,
            f"timeline {current.timeline} misses {len(current.missing)} WAL segment(s) "
            f"from {current.missing[0]}: recovery stops there",
        )
    if current.earliest is None:
        return CheckResult(
            "pitr_window",
            CheckStatus.WARNING,
            f"timeline {current.timeline} has no full backup to start from; take one",
        )
    return CheckResult(
        "pitr_window",
        CheckStatus.OK,
        f"timeline {current.timeline}: {current.earliest:%Y-%m-%d %H:%M:%S} .. "
        f"{current.latest:%Y-%m-%d %H:%M:%S} UTC",
    )
