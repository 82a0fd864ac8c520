"""A drill's report: what was restored, how long it took, what was lost, what was checked.

Reports are kept in the ops store as the details of a ``drill.run`` event (the store
outlives any restore of the application database), so ``chairside drill report`` can
print the newest one, or any earlier one by event id, as JSON or Markdown.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from chairside.checks import CheckResult, CheckStatus, worst
from chairside.config import Settings
from chairside.errors import NotFoundError
from chairside.ops.timeline.store import OpsEvent, open_ops_store

EVENT_KIND = "drill.run"


@dataclass
class DrillReport:
    """Everything one drill found; ``to_dict`` is the documented JSON contract."""

    started_at: str
    repository: str
    target: str
    backup_id: str | None = None
    backup_stop_time: str | None = None
    timeline: int | None = None
    timeline_reason: str | None = None
    finished_at: str | None = None
    rto_seconds: float | None = None
    rpo_seconds: float | None = None
    rpo_method: str | None = None
    rpo_wal_bytes: int | None = None
    restored_newest_commit: str | None = None
    primary_newest_commit: str | None = None
    phases: dict[str, float] = field(default_factory=dict)
    checks: list[CheckResult] = field(default_factory=list)
    smoke: dict[str, Any] = field(default_factory=dict)
    recovery: dict[str, Any] = field(default_factory=dict)
    cleaned_up: bool = False
    error: str | None = None
    rto_target_seconds: float | None = None
    rpo_target_seconds: float | None = None

    @property
    def status(self) -> CheckStatus:
        if self.error is not None:
            return CheckStatus.CRITICAL
        return worst(c.status for c in self.checks)

    @property
    def passed(self) -> bool:
        return self.status in (CheckStatus.OK, CheckStatus.WARNING)

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status.value,
            "passed": self.passed,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "repository": self.repository,
            "target": self.target,
            "backup_id": self.backup_id,
            "backup_stop_time": self.backup_stop_time,
            "timeline": self.timeline,
            "timeline_reason": self.timeline_reason,
            "rto_seconds": _round(self.rto_seconds),
            "rto_target_seconds": self.rto_target_seconds,
            "rpo_seconds": _round(self.rpo_seconds),
            "rpo_target_seconds": self.rpo_target_seconds,
            "rpo_method": self.rpo_method,
            "rpo_wal_bytes": self.rpo_wal_bytes,
            "restored_newest_commit": self.restored_newest_commit,
            "primary_newest_commit": self.primary_newest_commit,
            "phases": {k: round(v, 3) for k, v in self.phases.items()},
            "checks": [c.to_dict() for c in self.checks],
            "smoke": self.smoke,
            "recovery": self.recovery,
            "cleaned_up": self.cleaned_up,
            "error": self.error,
        }


def render_markdown(data: dict[str, Any]) -> str:
    """The report as Markdown, for a ticket, a wiki page or an auditor."""
    verdict = "PASSED" if data.get("passed") else "FAILED"
    lines = [
        f"# Disaster-recovery drill {data.get('started_at')}: {verdict}",
        "",
        "| | |",
        "|---|---|",
        f"| repository | `{data.get('repository')}` |",
        f"| target | {data.get('target')} |",
        f"| backup | `{data.get('backup_id')}` (consistent at {data.get('backup_stop_time')}) |",
        f"| timeline | {data.get('timeline')} ({data.get('timeline_reason')}) |",
        f"| RTO | {_seconds(data.get('rto_seconds'))}"
        + _against(data.get("rto_target_seconds"))
        + " |",
        f"| effective RPO | {_seconds(data.get('rpo_seconds'))}"
        + _against(data.get("rpo_target_seconds"))
        + f" ({data.get('rpo_method') or 'not measured'}) |",
        f"| newest restored commit | {data.get('restored_newest_commit')} |",
        f"| newest primary commit | {data.get('primary_newest_commit')} |",
        f"| WAL not restored | {data.get('rpo_wal_bytes')} bytes |",
        f"| scratch cluster removed | {'yes' if data.get('cleaned_up') else 'NO'} |",
        "",
    ]
    if data.get("error"):
        lines += [f"**Error:** {data['error']}", ""]
    phases = data.get("phases") or {}
    if phases:
        lines += ["## Phases", "", "| phase | seconds |", "|---|---:|"]
        lines += [f"| {name} | {seconds:.2f} |" for name, seconds in phases.items()]
        lines.append("")
    checks = data.get("checks") or []
    if checks:
        lines += ["## Checks", "", "| check | status | summary |", "|---|---|---|"]
        lines += [f"| {c['name']} | {c['status']} | {c['summary']} |" for c in checks]
        lines.append("")
    smoke = data.get("smoke") or {}
    if smoke:
        lines += ["## Restored data (read-only smoke check)", ""]
        lines += [f"- {key}: {value}" for key, value in smoke.items()]
        lines.append("")
    return "\n".join(lines)


def save_report(settings: Settings, report: DrillReport) -> OpsEvent:
    """Keep the report in the ops store (one ``drill.run`` event)."""
    data = report.to_dict()
    summary = (
        f"drill from {report.repository} {'passed' if report.passed else 'FAILED'}: "
        f"RTO {_seconds(report.rto_seconds)}{_against(report.rto_target_seconds)}, "
        f"RPO {_seconds(report.rpo_seconds)}{_against(report.rpo_target_seconds)}"
        + (f"; {report.error}" if report.error else "")
    )
    return open_ops_store(settings).record(
        EVENT_KIND, summary, status="ok" if report.passed else "failed", details=data
    )


def load_report(settings: Settings, *, event_id: int | None = None) -> OpsEvent:
    """The newest drill report, or the one recorded as event ``event_id``."""
    events = open_ops_store(settings).recent(kind_prefix=EVENT_KIND, limit=1000)
    if not events:
        raise NotFoundError("no drill has been run yet; run `chairside drill`", field="id")
    if event_id is None:
        return events[0]
    for event in events:
        if event.id == event_id:
            return event
    known = ", ".join(str(e.id) for e in events[:10])
    raise NotFoundError(f"no drill report with id {event_id}; recent ones: {known}", field="id")


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def _seconds(value: object) -> str:
    if value is None:
        return "n/a"
    seconds = float(value)  # type: ignore[arg-type]
    return f"{seconds:.1f}s" if seconds < 120 else f"{seconds / 60:.1f} min"


def _against(target: object) -> str:
    if target is None:
        return " (no target set: not judged)"
    return f" (target {_seconds(target)})"
