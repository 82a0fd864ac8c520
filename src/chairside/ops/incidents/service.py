"""Open, acknowledge, annotate, move and resolve incidents in the ops store.

Every change is one transaction in the ops store: the incident row changes by
compare-and-swap on its status (two operators acknowledging at once: one wins, the
other is told who did), a timeline entry is added, and an ``incident.*`` ops event is
recorded. Transitions follow the runbook's process::

    open ──ack──> acknowledged ──status──> investigating <-> identified <-> monitoring
      │                 │                        │
      └────────────── resolve (from any state but resolved) ──────────────> resolved

Notes are allowed in every state, a resolved incident included (post-incident notes),
and change no state, so they need no compare-and-swap. Each step may be given the moment
it happened (``at``), for an operator who writes the log after the fact; it may not be
in the future nor before the incident's last step. Opening and resolving a P1 or P2
tells the configured notification URLs (``notifications.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from chairside.config import Settings
from chairside.errors import ConflictError, InputError, NotFoundError
from chairside.ops.incidents import notifications
from chairside.ops.incidents.models import (
    EntryKind,
    Incident,
    IncidentEntryRow,
    IncidentRow,
    IncidentStatus,
    format_duration,
    to_incident,
    utc,
)
from chairside.ops.incidents.severity import parse_severity
from chairside.ops.notify.base import Notifier
from chairside.ops.timeline.store import OpsEventRow, OpsStore, current_actor, open_ops_store

Moment = datetime | str | None
# How a transition changes the row: extra column values, and the timeline entry's text.
Change = Callable[[IncidentRow, datetime], tuple[dict[str, Any], str]]

ACTIVE = (
    IncidentStatus.ACKNOWLEDGED,
    IncidentStatus.INVESTIGATING,
    IncidentStatus.IDENTIFIED,
    IncidentStatus.MONITORING,
)
UNRESOLVED = (IncidentStatus.OPEN, *ACTIVE)
WORKING_STATUSES = (
    IncidentStatus.INVESTIGATING,
    IncidentStatus.IDENTIFIED,
    IncidentStatus.MONITORING,
)
# A step stamped a little ahead of this host's clock is another host's clock skew.
_CLOCK_SKEW = timedelta(seconds=60)


@dataclass(frozen=True)
class IncidentChange:
    """What one step did: the incident after it, the entry it added, who was told."""

    incident: Incident
    notified: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "incident": self.incident.to_dict(),
            "entry": self.incident.entries[-1].to_dict() if self.incident.entries else None,
            "notified": self.notified,
        }


def open_incident(
    settings: Settings,
    *,
    severity: str,
    title: str,
    summary: str = "",
    by: str | None = None,
    at: Moment = None,
    notifier: Notifier | None = None,
) -> IncidentChange:
    """Open an incident of ``severity`` (P1-P4) and tell people if it is P1 or P2."""
    level = parse_severity(severity)
    title = title.strip()
    if not title:
        raise InputError("the title is empty; say in a few words what is wrong", field="title")
    if len(title) > 200:
        raise InputError(f"the title has {len(title)} characters; at most 200", field="title")
    moment = _moment(at, after=None)
    actor = by or current_actor()
    with ops_store(settings) as store, Session(store.engine) as session, session.begin():
        row = IncidentRow(
            title=title,
            summary=summary.strip(),
            severity=level.code,
            status=IncidentStatus.OPEN.value,
            opened_at=moment,
            opened_by=actor,
        )
        session.add(row)
        session.flush()
        text = f"{level.code} {level.name}: {title}" + (f". {row.summary}" if row.summary else "")
        _add_step(session, row, EntryKind.OPENED, moment, actor, text)
        incident = _read(session, row.id)
    with ops_store(settings) as store:
        notified = notifications.notify(settings, store, incident, notifier, opened=True)
    return IncidentChange(incident, notified)


def acknowledge(
    settings: Settings, *, incident_id: int, by: str | None = None, at: Moment = None
) -> IncidentChange:
    """Acknowledge an open incident (runbook: the first thing on call does)."""
    actor = by or current_actor()

    def change(row: IncidentRow, moment: datetime) -> tuple[dict[str, Any], str]:
        waited = format_duration((moment - utc(row.opened_at)).total_seconds())
        return (
            {"acknowledged_at": moment, "acknowledged_by": actor},
            f"acknowledged by {actor} after {waited}",
        )

    return _transition(
        settings,
        incident_id=incident_id,
        action="acknowledging",
        allowed=(IncidentStatus.OPEN,),
        to=IncidentStatus.ACKNOWLEDGED,
        kind=EntryKind.ACKNOWLEDGED,
        actor=actor,
        at=at,
        change=change,
    )


def set_status(
    settings: Settings,
    *,
    incident_id: int,
    status: str,
    note: str = "",
    by: str | None = None,
    at: Moment = None,
) -> IncidentChange:
    """Move an acknowledged incident to investigating, identified or monitoring."""
    allowed_names = ", ".join(s.value for s in WORKING_STATUSES)
    bad_status = InputError(f"status {status!r} is not one of {allowed_names}", field="status")
    try:
        target = IncidentStatus(status.strip().lower())
    except ValueError:
        raise bad_status from None
    if target not in WORKING_STATUSES:
        raise bad_status

    def change(row: IncidentRow, _moment: datetime) -> tuple[dict[str, Any], str]:
        if row.status == target.value:
            raise ConflictError(
                f"incident {row.id} is already {target.value}; "
                f"move it to another of {allowed_names}, or resolve it"
            )
        return {}, f"{row.status} -> {target.value}" + (f": {note.strip()}" if note else "")

    return _transition(
        settings,
        incident_id=incident_id,
        action=f"moving to {target.value}",
        allowed=ACTIVE,
        to=target,
        kind=EntryKind.STATUS,
        actor=by or current_actor(),
        at=at,
        change=change,
    )


def add_note(
    settings: Settings, *, incident_id: int, text: str, by: str | None = None, at: Moment = None
) -> IncidentChange:
    """Add a finding to an incident's timeline (any state, resolved included)."""
    if not text.strip():
        raise InputError("the note is empty; write what was found or done", field="text")

    def change(_row: IncidentRow, _moment: datetime) -> tuple[dict[str, Any], str]:
        return {}, text.strip()

    return _transition(
        settings,
        incident_id=incident_id,
        action="adding a note",
        allowed=tuple(IncidentStatus),
        to=None,
        kind=EntryKind.NOTE,
        actor=by or current_actor(),
        at=at,
        change=change,
    )


def resolve(
    settings: Settings,
    *,
    incident_id: int,
    cause: str,
    resolution: str = "",
    by: str | None = None,
    at: Moment = None,
    notifier: Notifier | None = None,
) -> IncidentChange:
    """Resolve an incident with its cause (and what fixed it); tells people for P1/P2."""
    if not cause.strip():
        raise InputError("the cause is empty; say what caused the incident", field="cause")
    actor = by or current_actor()

    def change(row: IncidentRow, moment: datetime) -> tuple[dict[str, Any], str]:
        lasted = format_duration((moment - utc(row.opened_at)).total_seconds())
        text = f"resolved after {lasted}. Cause: {cause.strip()}"
        if resolution.strip():
            text += f". Resolution: {resolution.strip()}"
        values = {
            "resolved_at": moment,
            "resolved_by": actor,
            "cause": cause.strip(),
            "resolution": resolution.strip() or None,
        }
        return values, text

    result = _transition(
        settings,
        incident_id=incident_id,
        action="resolving",
        allowed=UNRESOLVED,
        to=IncidentStatus.RESOLVED,
        kind=EntryKind.RESOLVED,
        actor=actor,
        at=at,
        change=change,
    )
    with ops_store(settings) as store:
        notified = notifications.notify(settings, store, result.incident, notifier, opened=False)
    return IncidentChange(result.incident, notified)


def get_incident(settings: Settings, *, incident_id: int) -> Incident:
    """One incident with its whole timeline."""
    with ops_store(settings) as store, Session(store.engine) as session:
        return _read(session, incident_id)


def list_incidents(
    settings: Settings, *, open_only: bool = False, limit: int = 100
) -> list[Incident]:
    """Incidents, newest first; only unresolved ones with ``open_only``."""
    query = select(IncidentRow).order_by(IncidentRow.id.desc()).limit(limit)
    if open_only:
        query = query.where(IncidentRow.status != IncidentStatus.RESOLVED.value)
    with ops_store(settings) as store, Session(store.engine) as session:
        return [to_incident(row) for row in session.scalars(query)]


@contextmanager
def ops_store(settings: Settings) -> Iterator[OpsStore]:
    """The ops store for one command, its connections closed afterwards."""
    store = open_ops_store(settings)
    try:
        yield store
    finally:
        store.engine.dispose()


def parse_moment(raw: str) -> datetime:
    """An ISO 8601 time with its UTC offset (``2026-12-04T03:12:00Z``), as UTC."""
    try:
        value = datetime.fromisoformat(raw.strip())
    except ValueError:
        raise InputError(
            f"time {raw!r} is not ISO 8601; write it like 2026-12-04T03:12:00Z", field="at"
        ) from None
    if value.tzinfo is None:
        raise InputError(
            f"time {raw!r} has no UTC offset; add Z for UTC (2026-12-04T03:12:00Z) or +hh:mm",
            field="at",
        )
    return value.astimezone(UTC)


def _transition(
    settings: Settings,
    *,
    incident_id: int,
    action: str,
    allowed: tuple[IncidentStatus, ...],
    to: IncidentStatus | None,
    kind: EntryKind,
    actor: str,
    at: Moment,
    change: Change,
) -> IncidentChange:
    try:
        with ops_store(settings) as store, Session(store.engine) as session, session.begin():
            return _apply(session, incident_id, action, allowed, to, kind, actor, at, change)
    except _LostRace:
        raise _changed_meanwhile(settings, incident_id, action) from None


class _LostRace(Exception):
    """Another operator changed the incident between our read and our write."""


def _apply(
    session: Session,
    incident_id: int,
    action: str,
    allowed: tuple[IncidentStatus, ...],
    to: IncidentStatus | None,
    kind: EntryKind,
    actor: str,
    at: Moment,
    change: Change,
) -> IncidentChange:
    row = _row(session, incident_id)
    _require(row, action, allowed)
    last = session.scalar(
        select(IncidentEntryRow.at)
        .where(IncidentEntryRow.incident_id == incident_id)
        .order_by(IncidentEntryRow.id.desc())
        .limit(1)
    )
    moment = _moment(at, after=None if last is None else utc(last))
    values, text = change(row, moment)
    seen = row.status
    new_status = seen if to is None else to.value
    if to is not None:
        # Compare-and-swap: only if nobody changed the status since we read it. Notes
        # change no state, so a note written during someone's transition is kept.
        swapped = session.execute(
            update(IncidentRow)
            .where(IncidentRow.id == incident_id, IncidentRow.status == seen)
            .values(status=new_status, **values)
            .execution_options(synchronize_session=False)
        )
        if swapped.rowcount != 1:  # type: ignore[attr-defined]
            raise _LostRace
        session.expire(row)
    _add_step(session, row, kind, moment, actor, text, status=new_status)
    return IncidentChange(_read(session, incident_id))


def _changed_meanwhile(settings: Settings, incident_id: int, action: str) -> ConflictError:
    now = get_incident(settings, incident_id=incident_id)
    last = now.entries[-1]
    return ConflictError(
        f"another step on incident {incident_id} came first: it is now {now.status.value} "
        f"({last.kind.value} by {last.actor}); {action} was not applied",
        details={"status": now.status.value},
    )


def _require(row: IncidentRow, action: str, allowed: tuple[IncidentStatus, ...]) -> None:
    if row.status in {s.value for s in allowed}:
        return
    names = ", ".join(s.value for s in allowed)
    hint = ""
    if row.status == IncidentStatus.OPEN.value:
        hint = f"; acknowledge it first (chairside incident ack {row.id})"
    raise ConflictError(
        f"incident {row.id} is {row.status}: {action} is allowed only when it is {names}{hint}",
        details={"status": row.status, "allowed": [s.value for s in allowed]},
    )


def _row(session: Session, incident_id: int) -> IncidentRow:
    row = session.get(IncidentRow, incident_id)
    if row is None:
        newest = session.scalar(select(IncidentRow.id).order_by(IncidentRow.id.desc()).limit(1))
        known = "there are no incidents yet" if newest is None else f"ids go from 1 to {newest}"
        raise NotFoundError(f"no incident {incident_id}; {known}", field="id")
    return row


def _read(session: Session, incident_id: int) -> Incident:
    row = _row(session, incident_id)
    entries = list(
        session.scalars(
            select(IncidentEntryRow)
            .where(IncidentEntryRow.incident_id == incident_id)
            .order_by(IncidentEntryRow.id)
        )
    )
    return to_incident(row, entries)


def _add_step(
    session: Session,
    row: IncidentRow,
    kind: EntryKind,
    moment: datetime,
    actor: str,
    text: str,
    *,
    status: str | None = None,
) -> None:
    status = status or row.status
    session.add(
        IncidentEntryRow(
            incident_id=row.id, at=moment, kind=kind.value, status=status, actor=actor, text=text
        )
    )
    session.add(
        OpsEventRow(
            at=moment,
            kind=f"incident.{kind.value}",
            status="ok",
            summary=f"incident {row.id} ({row.severity}) {kind.value}: {text}"[:1000],
            actor=actor,
            details={
                "incident_id": row.id,
                "severity": row.severity,
                "status": status,
                "title": row.title,
            },
        )
    )
    session.flush()


def _moment(at: Moment, *, after: datetime | None) -> datetime:
    """When a step happened: ``at`` checked against the clock and the last step, or now."""
    now = datetime.now(UTC)
    if at is None:
        # A previous step stamped slightly ahead (another host's clock) keeps its order.
        return now if after is None or now >= after else after
    moment = parse_moment(at) if isinstance(at, str) else at
    if moment.tzinfo is None:
        raise InputError(f"time {moment.isoformat()} has no UTC offset", field="at")
    moment = moment.astimezone(UTC)
    if moment > now + _CLOCK_SKEW:
        raise InputError(
            f"time {moment.isoformat()} is in the future (now {now.isoformat(timespec='seconds')})",
            field="at",
        )
    if after is not None and moment < after:
        raise InputError(
            f"time {moment.isoformat()} is before the incident's last step at "
            f"{after.isoformat()}; steps are recorded in order",
            field="at",
        )
    return moment
