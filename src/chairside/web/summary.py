"""What the ops console shows, gathered from the ops services in one JSON document.

Read-only and cheap: the health checks come from the app's own probe (its cached
snapshot, the one ``/metrics`` reads), the backup status is kept for
``BACKUP_STATUS_SECONDS`` because listing a repository (perhaps S3) is the costly part,
and the rest are small reads of the home and the ops store. Each section is read on its
own: one that fails (a damaged deploy record, an ops store that does not answer) shows
its error and leaves the others standing, since the page is most needed when something
is broken.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from chairside.config import Settings
from chairside.errors import ChairsideError
from chairside.ops.backup.status import BackupStatusReport, backup_status
from chairside.ops.deploy.modes import ModeSwitch
from chairside.ops.deploy.record import DeployRecord, read_record
from chairside.ops.health.probe import HealthProbe
from chairside.ops.health.report import health_payload
from chairside.ops.incidents import service as incidents
from chairside.ops.timeline.store import open_ops_store

BACKUP_STATUS_SECONDS = 60.0
EVENT_LIMIT = 30
DEPLOY_FIELDS = (
    "id",
    "version",
    "version_before",
    "state",
    "reason",
    "started_at",
    "started_by",
    "finished_at",
)


class BackupStatusCache:
    """The last backup status report (or the error it raised), kept for a while."""

    def __init__(self, max_age_seconds: float = BACKUP_STATUS_SECONDS) -> None:
        self.max_age_seconds = max_age_seconds
        self._lock = threading.Lock()
        self._last: tuple[float, BackupStatusReport | ChairsideError] | None = None

    def get(self, settings: Settings) -> BackupStatusReport | ChairsideError:
        """A report no older than ``max_age_seconds``, or the error that one raised."""
        with self._lock:
            if self._last is not None and time.monotonic() - self._last[0] < self.max_age_seconds:
                return self._last[1]
            result: BackupStatusReport | ChairsideError
            try:
                result = backup_status(settings)
            except ChairsideError as exc:
                result = exc
            self._last = (time.monotonic(), result)
            return result


def console_summary(
    settings: Settings,
    *,
    probe: HealthProbe,
    modes: ModeSwitch,
    backups: BackupStatusCache,
) -> dict[str, Any]:
    """Everything the console shows: health, modes, backups, incidents, deploys, events."""
    return {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "health": _section(lambda: _health(probe)),
        "modes": _section(lambda: modes.current().to_dict()),
        "backups": _section(lambda: _backups(backups.get(settings))),
        "incidents": _section(lambda: _incidents(settings)),
        "deployment": _section(lambda: _deployment(settings)),
        "events": _section(lambda: _events(settings)),
    }


def _section(read: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    try:
        return read()
    except ChairsideError as exc:
        return {"error": exc.message}
    except (SQLAlchemyError, OSError) as exc:  # the ops store or the home does not answer
        return {"error": f"{type(exc).__name__}: {exc}"}


def _health(probe: HealthProbe) -> dict[str, Any]:
    # The cached snapshot (health_cache_seconds): a console refreshing every 30 s on a
    # few phones must not add probe runs on top of Prometheus's.
    snapshot = probe.snapshot()
    return health_payload(snapshot.results, at=snapshot.at)


def _backups(report: BackupStatusReport | ChairsideError) -> dict[str, Any]:
    if isinstance(report, ChairsideError):
        return {"error": f"no backup status: {report.message}"}
    data = report.to_dict()
    return {
        "status": data["status"],
        "checked_at": data["checked_at"],
        "repository": data["repository"],
        "last_full": data["last_backups"].get("full"),
        # Incremental backups are the archived WAL since the last full one.
        "last_incremental": {
            "newest_wal": data["wal"].get("newest"),
            "archived_at": data["wal"].get("archived_at"),
            "age_seconds": data["wal"].get("age_seconds"),
            "rpo_seconds": data["wal"].get("rpo_seconds"),
        },
        "pitr": data["pitr"],
        "checks": data["checks"],
    }


def _incidents(settings: Settings) -> dict[str, Any]:
    return {"open": [i.to_dict() for i in incidents.list_incidents(settings, open_only=True)]}


def _deployment(settings: Settings) -> dict[str, Any]:
    return {
        "current": _deploy_record(read_record(settings, "current")),
        "last": _deploy_record(read_record(settings, "last")),
    }


def _deploy_record(record: DeployRecord | None) -> dict[str, Any] | None:
    if record is None:
        return None
    data = record.to_dict()
    return {name: data.get(name) for name in DEPLOY_FIELDS}


def _events(settings: Settings) -> dict[str, Any]:
    events = open_ops_store(settings).recent(limit=EVENT_LIMIT)
    # Details can be large (a maintenance run's every step); the page shows the line.
    return {
        "recent": [{k: v for k, v in event.to_dict().items() if k != "details"} for event in events]
    }
