"""Writing and reading the audit log.

Every state change on the booking side calls :func:`record` inside the transaction that
makes the change, so the row exists exactly when the change does.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import date, datetime, time
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from chairside.accounts.principal import Principal
from chairside.audit.models import AuditEntry
from chairside.errors import InputError
from chairside.logging import request_id_var


def record(
    *,
    session: Session,
    actor: Principal | None,
    action: str,
    entity: str,
    entity_id: uuid.UUID | str,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
) -> None:
    """Add an audit row for a change made in ``session``'s transaction."""
    session.add(
        AuditEntry(
            actor_id=actor.id if actor else None,
            actor_role=actor.role if actor else "system",
            action=action,
            entity=entity,
            entity_id=str(entity_id),
            before=jsonable(before),
            after=jsonable(after),
            request_id=request_id_var.get(),
        )
    )


def list_entries(
    *,
    session: Session,
    entity: str | None = None,
    entity_id: str | None = None,
    since: datetime | None = None,
    limit: int = 100,
    before_id: int | None = None,
) -> Sequence[AuditEntry]:
    """Audit rows, newest first, filtered by entity, entity id and time."""
    if not 1 <= limit <= 1000:
        raise InputError(f"limit must be between 1 and 1000, got {limit}", field="limit")
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if entity:
        query = query.where(AuditEntry.entity == entity)
    if entity_id:
        query = query.where(AuditEntry.entity_id == entity_id)
    if since:
        query = query.where(AuditEntry.at >= since)
    if before_id:
        query = query.where(AuditEntry.id < before_id)
    return session.scalars(query).all()


def jsonable(values: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if values is None:
        return None
    out: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, uuid.UUID):
            out[key] = str(value)
        elif isinstance(value, datetime | date | time):
            out[key] = value.isoformat()
        else:
            out[key] = value
    return out
