"""``backup validate``: run the layers, store the results with each backup, record it.

Levels: ``integrity`` (marker, files, decryption, WAL checksums), ``continuity``
(the default: integrity plus an unbroken WAL chain) and ``full`` (continuity plus a test
restore). Without a backup id every backup is validated; an incomplete one (no marker)
is reported as a warning there (it never counts, and retention removes it), and as
critical when it is the one asked for. Each complete backup's result is written to
``backups/<id>/validation.json`` (read by ``backup status`` as "last validation").
Validation holds the repository lock shared, so retention waits for it.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import make_url

from chairside.checks import CheckResult, CheckStatus, worst
from chairside.config import Settings
from chairside.errors import NotFoundError
from chairside.ops.backup import access
from chairside.ops.backup.catalog import BackupCatalog, BackupEntry
from chairside.ops.backup.locks import repository_lock
from chairside.ops.backup.manifest import parse_backup_id
from chairside.ops.backup.validation.continuity import check_continuity
from chairside.ops.backup.validation.full_test import run_full_test
from chairside.ops.backup.validation.integrity import (
    check_files,
    check_marker,
    check_wal_segments,
)
from chairside.ops.backup.walarchive import WalArchive
from chairside.ops.restore.layout import stamp
from chairside.ops.restore.plan import DEFAULT_SEGMENT_SIZE, ArchiveView, read_archive
from chairside.ops.timeline.store import open_ops_store

StepReporter = Callable[[str], None]


class ValidationLevel(enum.StrEnum):
    INTEGRITY = "integrity"
    CONTINUITY = "continuity"
    FULL = "full"


@dataclass(frozen=True)
class BackupValidation:
    """The checks of one backup and when they ran."""

    backup_id: str
    level: ValidationLevel
    checks: tuple[CheckResult, ...]
    started_at: datetime
    finished_at: datetime
    complete: bool = True

    @property
    def status(self) -> CheckStatus:
        return worst(c.status for c in self.checks)

    def to_dict(self) -> dict[str, Any]:
        failing = [c.summary for c in self.checks if c.status is not CheckStatus.OK]
        return {
            "backup_id": self.backup_id,
            "status": self.status.value,
            "level": self.level.value,
            "complete": self.complete,
            "summary": "; ".join(failing) or f"{self.level.value} validation passed",
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat(),
            "checks": [c.to_dict() for c in self.checks],
        }


@dataclass(frozen=True)
class ValidationRun:
    """Every backup validated by one command."""

    level: ValidationLevel
    backups: tuple[BackupValidation, ...]
    repository: str

    @property
    def status(self) -> CheckStatus:
        return worst(b.status for b in self.backups)

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status.value,
            "level": self.level.value,
            "repository": self.repository,
            "backups": [b.to_dict() for b in self.backups],
        }


LATEST = "latest"  # the newest complete full backup (else the newest complete one)


def _latest_backup_id(entries: list[BackupEntry]) -> str:
    complete = [e for e in entries if e.complete and e.manifest is not None]
    if not complete:
        raise NotFoundError(
            "'latest' names the newest complete backup, and there is none yet: take "
            "`chairside backup full`",
            field="backup_id",
        )
    full = [e for e in complete if e.manifest is not None and e.manifest.type == "full"]
    return max(full or complete, key=lambda e: e.start_time).id


def validate_backups(
    settings: Settings,
    *,
    backup_id: str | None = None,
    level: ValidationLevel = ValidationLevel.CONTINUITY,
    repository: str | None = None,
    step: StepReporter | None = None,
) -> ValidationRun:
    """Validate one backup (or all) at ``level``; results stored and recorded."""
    report = step or (lambda _message: None)
    if backup_id is not None and backup_id != LATEST:
        parse_backup_id(backup_id)
    catalog = access.catalog(settings, repository)
    archive = access.wal_archive(settings, repository)
    url = catalog.repository.url
    catalog.require_identity()
    with repository_lock(settings.home, url, mode="shared", purpose=f"backup validate {level}"):
        entries = catalog.list_backups(include_incomplete=True)
        if backup_id == LATEST:
            backup_id = _latest_backup_id(entries)
        if backup_id is not None:
            known = {e.id for e in entries}
            if backup_id not in known:
                catalog.read_manifest(backup_id)  # raises NotFoundError naming recent ids
            entries = [e for e in entries if e.id == backup_id]
        view: ArchiveView | None = None
        if level is not ValidationLevel.INTEGRITY or any(e.complete for e in entries):
            sizes = {
                e.manifest.wal_segment_size
                for e in entries
                if e.manifest and e.manifest.wal_segment_size
            }
            view = read_archive(
                archive, segment_size=sizes.pop() if sizes else DEFAULT_SEGMENT_SIZE
            )
        checked_wal: set[str] = set()
        results = []
        for entry in entries:
            report(f"validating {entry.id}")
            result = _validate_one(
                settings, catalog, archive, entry.id, level, view, checked_wal,
                explicit=backup_id is not None, step=report,
            )  # fmt: skip
            if result.complete:
                catalog.write_validation(entry.id, result.to_dict())
            results.append(result)
    run = ValidationRun(level, tuple(results), url)
    names = ", ".join(f"{b.backup_id} {b.status.value}" for b in results) or "no backups"
    open_ops_store(settings).record(
        "backup.validate",
        f"{level.value} validation: {names}",
        status="ok" if run.status is CheckStatus.OK else run.status.value,
        details=run.to_dict(),
    )
    return run


def _validate_one(
    settings: Settings,
    catalog: BackupCatalog,
    archive: WalArchive,
    backup_id: str,
    level: ValidationLevel,
    view: ArchiveView | None,
    checked_wal: set[str],
    *,
    explicit: bool,
    step: StepReporter,
) -> BackupValidation:
    started = datetime.now(UTC)
    scratch = settings.home / "validation"
    scratch.mkdir(parents=True, exist_ok=True)
    marker, manifest = check_marker(catalog, backup_id)
    if manifest is None:
        if not explicit:
            marker = CheckResult(
                "marker", CheckStatus.WARNING,
                f"incomplete backup {backup_id}: {marker.summary}", marker.latency_ms,
            )  # fmt: skip
        return BackupValidation(
            backup_id, level, (marker,), started, datetime.now(UTC), complete=False
        )
    checks = [marker, check_files(catalog, manifest, scratch=scratch)]
    chain: list[str] = []
    chain_ok = False
    if manifest.type == "full" and view is not None:
        continuity, chain = check_continuity(manifest, view)
        chain_ok = continuity.status is CheckStatus.OK
        if level is not ValidationLevel.INTEGRITY:
            checks.append(continuity)
        todo = [name for name in chain if name not in checked_wal]
        size = manifest.wal_segment_size or DEFAULT_SEGMENT_SIZE
        wal_check = check_wal_segments(
            archive, todo, listed={n: view.entry(n, size) for n in todo},
            duplicates=view.duplicates,
        )  # fmt: skip
        checks.append(wal_check)
        if wal_check.status is CheckStatus.OK:
            checked_wal.update(todo)
    if level is ValidationLevel.FULL and manifest.type == "full":
        if any(c.status is CheckStatus.CRITICAL for c in checks if c.name in {"marker", "files"}):
            checks.append(
                CheckResult("test_restore", CheckStatus.CRITICAL, "skipped: the files are damaged")
            )
        else:
            step(f"test-restoring {backup_id} into a scratch cluster")
            checks.extend(
                run_full_test(
                    catalog,
                    archive,
                    backup_id,
                    scratch_root=scratch / f"{backup_id}-{stamp()}",
                    app_database=_app_database(settings),
                    chain_complete=chain_ok,
                    pg_bin_dir=settings.pg_bin_dir,
                    step=step,
                )  # fmt: skip
            )
    return BackupValidation(backup_id, level, tuple(checks), started, datetime.now(UTC))


def _app_database(settings: Settings) -> str:
    if settings.database_url is not None:
        try:
            name = make_url(settings.database_url.get_secret_value()).database
        except Exception:  # noqa: BLE001 - a malformed URL only loses the invariant checks
            name = None
        return name or "postgres"
    from chairside.runtime.embedded import DATABASE_NAME

    return DATABASE_NAME
