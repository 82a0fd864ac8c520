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

from chairside.checks import worst
from chairside.config import Settings
from chairside.errors import ChairsideError, NotFoundError
from chairside.ops.backup.status import BackupStatusReport, backup_status
from chairside.ops.deploy.modes import ModeSwitch
from chairside.ops.deploy.record import DeployRecord, read_record
from chairside.ops.drill.report import load_report
from chairside.ops.health.history import history_for
from chairside.ops.health.probe import HealthProbe
from chairside.ops.health.report import health_payload
from chairside.ops.incidents import service as incidents
from chairside.ops.timeline.store import OpsEvent, open_ops_store

BACKUP_STATUS_SECONDS = 60.0
ALERTS_SECONDS = 30.0
ALERTS_TIMEOUT_SECONDS = 2.0
HISTORY_SECONDS = 24 * 3600.0
EVENT_LIMIT = 30
EVENT_SCAN = 500  # events read to find EVENT_LIMIT that changed something
ROUTINE_PREFIXES = ("health.", "schedule.")
SEVERITY_ORDER = {"critical": 0, "unknown": 1, "warning": 2, "ok": 3}
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

    def keep(self, report: BackupStatusReport | ChairsideError) -> None:
        """Hold ``report`` as the newest reading (a deploy that just ran status, a test)."""
        with self._lock:
            self._last = (time.monotonic(), report)

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


class FiringAlertsCache:
    """Alertmanager's firing alerts (or why they could not be read), kept for a while."""

    def __init__(self, max_age_seconds: float = ALERTS_SECONDS) -> None:
        self.max_age_seconds = max_age_seconds
        self._lock = threading.Lock()
        self._last: tuple[float, dict[str, Any]] | None = None

    def get(self, settings: Settings) -> dict[str, Any]:
        """``{"configured", "url", "firing": [...]}`` or with ``error`` when unreachable."""
        if "alertmanager_url" not in settings.model_fields_set:
            return {"configured": False, "url": None, "firing": []}
        with self._lock:
            if self._last is not None and time.monotonic() - self._last[0] < self.max_age_seconds:
                return self._last[1]
            result = _firing_alerts(settings)
            self._last = (time.monotonic(), result)
            return result


# One cache per Alertmanager address in this process: every console on every phone reads
# the same 30-second-old answer instead of asking Alertmanager on each refresh.
_ALERT_CACHES: dict[str, FiringAlertsCache] = {}


def _alerts_cache(settings: Settings) -> FiringAlertsCache:
    return _ALERT_CACHES.setdefault(settings.alertmanager_url, FiringAlertsCache())


def _firing_alerts(settings: Settings) -> dict[str, Any]:
    from chairside.ops.monitoring.alerts import AlertmanagerClient  # only when configured

    url = settings.alertmanager_url
    try:
        with AlertmanagerClient(url, timeout=ALERTS_TIMEOUT_SECONDS) as client:
            found = client.alerts(include_suppressed=False)
    except ChairsideError as exc:
        return {"configured": True, "url": url, "firing": [], "error": exc.message}
    firing = [
        {
            "name": a.name,
            "priority": a.priority,
            "severity": a.severity,
            "summary": a.summary,
            "since": a.starts_at,
        }
        for a in found
        if a.state == "active"
    ]
    return {"configured": True, "url": url, "firing": firing}


def console_summary(
    settings: Settings,
    *,
    probe: HealthProbe,
    modes: ModeSwitch,
    backups: BackupStatusCache,
    alerts: FiringAlertsCache | None = None,
) -> dict[str, Any]:
    """Everything the console shows, critical first where it is a list."""
    return {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "health": _section(lambda: _health(probe)),
        "alerts": _section(lambda: (alerts or _alerts_cache(settings)).get(settings)),
        "modes": _section(lambda: modes.current().to_dict()),
        "backups": _section(lambda: _backups(backups.get(settings))),
        "drill": _section(lambda: _drill(settings)),
        "history": _section(lambda: _history(settings)),
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
    payload = health_payload(snapshot.results, at=snapshot.at)
    # Worst first: on a phone a critical check must not sit below the fold.
    payload["checks"] = sorted(
        payload["checks"], key=lambda check: SEVERITY_ORDER.get(str(check.get("status")), 9)
    )
    return payload


def _backups(report: BackupStatusReport | ChairsideError) -> dict[str, Any]:
    if isinstance(report, ChairsideError):
        return {"error": f"no backup status: {report.message}"}
    data = report.to_dict()
    # The primary repository's own status: a DR copy that cannot be read is the DR
    # line's problem and must not paint the primary's line UNKNOWN.
    primary = [c for c in report.checks if not c.name.startswith("dr:")]
    dr = [r for r in data.get("repositories") or [] if r.get("role") == "dr"]
    return {
        "status": data["status"],
        "primary_status": worst(c.status for c in primary).value if primary else "unknown",
        "checked_at": data["checked_at"],
        "repository": data["repository"],
        "dr": [
            {name: r.get(name) for name in ("url", "status", "summary", "lag_seconds", "last_sync")}
            for r in dr
        ],
        "last_full": data["last_backups"].get("full"),
        # Incremental backups are the archived WAL since the last full one.
        "last_incremental": {
            "newest_wal": data["wal"].get("newest"),
            "archived_at": data["wal"].get("archived_at"),
            "age_seconds": data["wal"].get("age_seconds"),
            "rpo_seconds": data["wal"].get("rpo_seconds"),
        },
        "pitr": data["pitr"],
        "checks": [c.to_dict() for c in primary],
    }


def _drill(settings: Settings) -> dict[str, Any]:
    """The newest DR drill: when, passed or not, RTO and RPO against their targets."""
    try:
        event = load_report(settings)
    except NotFoundError:
        return {"last": None}
    d = event.details
    return {
        "last": {
            "at": event.at.isoformat(),
            "passed": bool(d.get("passed")),
            "status": d.get("status"),
            "repository": d.get("repository"),
            "backup_id": d.get("backup_id"),
            "rto_seconds": d.get("rto_seconds"),
            "rto_target_seconds": d.get("rto_target_seconds"),
            "rpo_seconds": d.get("rpo_seconds"),
            "rpo_target_seconds": d.get("rpo_target_seconds"),
            "error": d.get("error"),
        }
    }


def _history(settings: Settings) -> dict[str, Any]:
    since = time.time() - HISTORY_SECONDS
    points = history_for(settings.home).points(since=since)
    return {"since": since, "points": [p.to_dict() for p in points]}


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
    events = changes_only(open_ops_store(settings).recent(limit=EVENT_SCAN))[:EVENT_LIMIT]
    # Details can be large (a maintenance run's every step); the page shows the line.
    return {
        "recent": [{k: v for k, v in event.to_dict().items() if k != "details"} for event in events]
    }


def changes_only(newest_first: list[OpsEvent]) -> list[OpsEvent]:
    """What changed: routine kinds (``health.*``, ``schedule.*``) only when their status
    differs from the run before; every other event (an operator's act) as it is."""
    kept: list[OpsEvent] = []
    for index, event in enumerate(newest_first):
        if event.kind.startswith(ROUTINE_PREFIXES):
            previous = next((e for e in newest_first[index + 1 :] if e.kind == event.kind), None)
            if previous is not None and previous.status == event.status:
                continue
        kept.append(event)
    return kept
