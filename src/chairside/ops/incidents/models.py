"""The incident tables of the ops store, and the incident as the rest of the code sees it.

Two tables on :class:`~chairside.ops.timeline.store.OpsBase` (created with the store,
never migrated with the application database): ``incidents``, one row per incident with
its current state, and ``incident_entries``, its timeline (every transition and note).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from chairside.ops.incidents.severity import SeverityLevel, severity_level
from chairside.ops.timeline.store import OpsBase


class IncidentStatus(enum.StrEnum):
    """Where an incident is in the runbook's process."""

    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    INVESTIGATING = "investigating"
    IDENTIFIED = "identified"
    MONITORING = "monitoring"
    RESOLVED = "resolved"


class EntryKind(enum.StrEnum):
    """What one line of an incident's timeline records."""

    OPENED = "opened"
    ACKNOWLEDGED = "acknowledged"
    STATUS = "status"
    NOTE = "note"
    RESOLVED = "resolved"


class IncidentRow(OpsBase):
    __tablename__ = "incidents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    title: Mapped[str] = mapped_column(String(200))
    summary: Mapped[str] = mapped_column(Text, default="")
    severity: Mapped[str] = mapped_column(String(2))
    status: Mapped[str] = mapped_column(String(16), index=True)
    opened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    opened_by: Mapped[str] = mapped_column(String(128))
    acknowledged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    acknowledged_by: Mapped[str | None] = mapped_column(String(128))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolved_by: Mapped[str | None] = mapped_column(String(128))
    cause: Mapped[str | None] = mapped_column(Text)
    resolution: Mapped[str | None] = mapped_column(Text)


class IncidentEntryRow(OpsBase):
    __tablename__ = "incident_entries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(128))
    text: Mapped[str] = mapped_column(Text, default="")


@dataclass(frozen=True)
class IncidentEntry:
    """One line of an incident's timeline: a transition or a note."""

    id: int
    at: datetime
    kind: EntryKind
    status: IncidentStatus
    actor: str
    text: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "at": self.at.isoformat(),
            "kind": self.kind.value,
            "status": self.status.value,
            "actor": self.actor,
            "text": self.text,
        }


@dataclass(frozen=True)
class Incident:
    """An incident and, when read with them, its timeline entries."""

    id: int
    title: str
    summary: str
    severity: SeverityLevel
    status: IncidentStatus
    opened_at: datetime
    opened_by: str
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    resolved_at: datetime | None
    resolved_by: str | None
    cause: str | None
    resolution: str | None
    entries: list[IncidentEntry] = field(default_factory=list)

    @property
    def time_to_acknowledge_seconds(self) -> float | None:
        if self.acknowledged_at is None:
            return None
        return (self.acknowledged_at - self.opened_at).total_seconds()

    @property
    def time_to_resolve_seconds(self) -> float | None:
        if self.resolved_at is None:
            return None
        return (self.resolved_at - self.opened_at).total_seconds()

    @property
    def acknowledged_within_target(self) -> bool | None:
        tta = self.time_to_acknowledge_seconds
        if tta is None:
            return None
        return tta <= self.severity.response_target_seconds

    def to_dict(self, *, with_entries: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "title": self.title,
            "summary": self.summary,
            "severity": self.severity.code,
            "severity_name": self.severity.name,
            "response_target_seconds": self.severity.response_target_seconds,
            "escalation": self.severity.escalation,
            "status": self.status.value,
            "opened_at": self.opened_at.isoformat(),
            "opened_by": self.opened_by,
            "acknowledged_at": _iso(self.acknowledged_at),
            "acknowledged_by": self.acknowledged_by,
            "resolved_at": _iso(self.resolved_at),
            "resolved_by": self.resolved_by,
            "cause": self.cause,
            "resolution": self.resolution,
            "time_to_acknowledge_seconds": self.time_to_acknowledge_seconds,
            "acknowledged_within_target": self.acknowledged_within_target,
            "time_to_resolve_seconds": self.time_to_resolve_seconds,
        }
        if with_entries:
            data["entries"] = [entry.to_dict() for entry in self.entries]
        return data


def utc(value: datetime) -> datetime:
    """A stored time as aware UTC (SQLite gives naive datetimes back)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def to_incident(row: IncidentRow, entries: list[IncidentEntryRow] | None = None) -> Incident:
    """The incident of a row (and its entry rows, oldest first)."""
    return Incident(
        id=row.id,
        title=row.title,
        summary=row.summary,
        severity=severity_level(row.severity),
        status=IncidentStatus(row.status),
        opened_at=utc(row.opened_at),
        opened_by=row.opened_by,
        acknowledged_at=None if row.acknowledged_at is None else utc(row.acknowledged_at),
        acknowledged_by=row.acknowledged_by,
        resolved_at=None if row.resolved_at is None else utc(row.resolved_at),
        resolved_by=row.resolved_by,
        cause=row.cause,
        resolution=row.resolution,
        entries=[
            IncidentEntry(
                e.id, utc(e.at), EntryKind(e.kind), IncidentStatus(e.status), e.actor, e.text
            )
            for e in entries or []
        ],
    )


def format_duration(seconds: float) -> str:
    """``3h 05m 20s`` style, for people."""
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m {secs:02d}s"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"
