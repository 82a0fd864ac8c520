"""The booking state machine and compare-and-swap status changes.

::

    pending_payment ──pay──▶ confirmed ──▶ completed
          │  │                  │  └──────▶ no_show
          │  └──hold runs out──▶ expired ──late payment, slot still free──▶ confirmed
          └────────cancel───────┴──────▶ cancelled

Every change is one ``UPDATE … WHERE id = ? AND status = ? AND version = ?``: when another
request changed the booking first, nothing matches and the caller gets a 409 naming the
status the booking is in now. Changes into a live status run under a savepoint so that an
exclusion-constraint violation becomes a 409 with the conflicting interval.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from psycopg import errors as pg_errors
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from chairside.accounts.principal import Principal
from chairside.audit import service as audit
from chairside.booking import availability_cache
from chairside.booking.models import LIVE_STATUSES, Booking
from chairside.errors import ConflictError
from chairside.reminders import outbox
from chairside.shops.models import Shop

ALLOWED: dict[str, frozenset[str]] = {
    "pending_payment": frozenset({"confirmed", "expired", "cancelled"}),
    "confirmed": frozenset({"completed", "no_show", "cancelled"}),
    "expired": frozenset({"confirmed"}),
    "completed": frozenset(),
    "cancelled": frozenset(),
    "no_show": frozenset(),
}

T = TypeVar("T")

AUDITED = ("status", "starts_at", "ends_at", "hold_expires_at", "cancellation_fee_minor")


class SlotTakenError(ConflictError):
    """The interval overlaps another live booking of the provider."""


def snapshot(booking: Booking) -> dict[str, Any]:
    """The audited fields of a booking."""
    return {name: getattr(booking, name) for name in AUDITED}


def ensure_allowed(booking: Booking, to: str) -> None:
    """Raise a 409 naming the current status when ``to`` cannot follow it."""
    if to not in ALLOWED[booking.status]:
        raise ConflictError(
            f"booking {booking.id} is {booking.status}; it cannot become {to}",
            details={"current_status": booking.status},
        )


FINISHED = ("completed", "no_show")


def has_started(booking: Booking, *, now: datetime) -> bool:
    """True once a booking's start time has come: only then is it completed or missed."""
    return booking.starts_at <= now


def may_finish(booking: Booking, *, now: datetime) -> bool:
    """True when staff may mark the booking completed or no_show now."""
    return all(to in ALLOWED[booking.status] for to in FINISHED) and has_started(booking, now=now)


def change_status(
    *,
    session: Session,
    booking: Booking,
    to: str,
    actor: Principal | None,
    action: str,
    values: dict[str, Any] | None = None,
) -> Booking:
    """Move ``booking`` to status ``to`` if it is still as loaded; 409 otherwise."""
    ensure_allowed(booking, to)
    before = snapshot(booking)
    statement = (
        update(Booking)
        .where(
            Booking.id == booking.id,
            Booking.status == booking.status,
            Booking.version == booking.version,
        )
        .values(status=to, version=Booking.version + 1, updated_at=func.now(), **(values or {}))
        .returning(Booking)
        .execution_options(populate_existing=True, synchronize_session=False)
    )
    if to in LIVE_STATUSES and booking.status not in LIVE_STATUSES:
        updated = run_guarded(session, booking, lambda: session.scalars(statement).one_or_none())
    else:
        updated = session.scalars(statement).one_or_none()
    if updated is None:
        current = session.scalar(
            select(Booking.status)
            .where(Booking.id == booking.id)
            .execution_options(populate_existing=True)
        )
        raise ConflictError(
            f"booking {booking.id} changed meanwhile and is now {current}; reload it and retry",
            details={"current_status": current},
        )
    availability_cache.note_changed(session, updated.provider_id)
    if to == "cancelled":
        # In the cancellation's transaction: a reminder for it never goes out.
        outbox.cancel_pending(session, updated.id)
    audit.record(
        session=session,
        actor=actor,
        action=action,
        entity="booking",
        entity_id=updated.id,
        before=before,
        after=snapshot(updated),
    )
    return updated


def run_guarded(session: Session, booking: Booking, work: Callable[[], T]) -> T:
    """Run ``work`` under a savepoint; an exclusion violation becomes SlotTakenError."""
    interval = (booking.buffered_starts_at, booking.buffered_ends_at)
    try:
        with session.begin_nested():
            result: T = work()
            session.flush()
            return result
    except IntegrityError as exc:
        if not isinstance(exc.orig, pg_errors.ExclusionViolation):
            raise
    raise slot_taken(session, booking.provider_id, interval, exclude=booking.id)


def slot_taken(
    session: Session,
    provider_id: uuid.UUID,
    interval: tuple[datetime, datetime],
    *,
    exclude: uuid.UUID | None = None,
) -> SlotTakenError:
    """The 409 for an interval that overlaps a live booking, naming that booking's times.

    The times are in the shop's time zone, with its offset, like every time the API shows.
    """
    query = select(Booking).where(
        Booking.provider_id == provider_id,
        Booking.status.in_(LIVE_STATUSES),
        Booking.buffered_starts_at < interval[1],
        Booking.buffered_ends_at > interval[0],
    )
    if exclude is not None:
        query = query.where(Booking.id != exclude)
    other = session.scalars(query.limit(1)).first()
    details: dict[str, object] = {}
    message = "the slot is taken: it overlaps another booking of this provider"
    if other is not None:
        zone_name = session.scalar(select(Shop.timezone).where(Shop.id == other.shop_id))
        zone = ZoneInfo(zone_name or "UTC")
        starts = other.buffered_starts_at.astimezone(zone).isoformat()
        ends = other.buffered_ends_at.astimezone(zone).isoformat()
        details["conflicting_interval"] = {
            "starts_at": starts,
            "ends_at": ends,
            "timezone": zone_name,
        }
        message = (
            f"the slot is taken: it overlaps a booking occupying {starts} to {ends} "
            f"({zone_name}, buffers included)"
        )
    return SlotTakenError(message, details=details)
