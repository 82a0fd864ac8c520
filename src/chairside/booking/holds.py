"""Releasing payment holds that ran out.

A ``pending_payment`` booking holds its slot until ``hold_expires_at``. Availability
already ignores a run-out hold; these functions turn such bookings into ``expired`` so
the exclusion constraint lets the slot go: for an overlapping interval inside the
transaction that wants it (:func:`expire_overlapping`), and for everything by a sweep
(:func:`expire_stale_holds`).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from chairside.booking import transitions
from chairside.booking.models import Booking
from chairside.errors import ConflictError


def expire_overlapping(
    *, session: Session, provider_id: uuid.UUID, interval: tuple[datetime, datetime]
) -> int:
    """Expire run-out holds of a provider that overlap ``interval``; returns how many."""
    stale = session.scalars(
        select(Booking)
        .where(
            Booking.provider_id == provider_id,
            Booking.status == "pending_payment",
            Booking.hold_expires_at <= func.now(),
            Booking.buffered_starts_at < interval[1],
            Booking.buffered_ends_at > interval[0],
        )
        .with_for_update(skip_locked=True)
    ).all()
    return _expire(session, stale)


def stale_holds(*, session: Session, limit: int = 1000) -> Sequence[Booking]:
    """Run-out holds still marked pending_payment, oldest first (read only)."""
    return session.scalars(
        select(Booking)
        .where(Booking.status == "pending_payment", Booking.hold_expires_at <= func.now())
        .order_by(Booking.hold_expires_at)
        .limit(limit)
    ).all()


def expire_stale_holds(*, session: Session, limit: int = 1000) -> int:
    """Expire every run-out hold (up to ``limit``); returns how many."""
    stale = session.scalars(
        select(Booking)
        .where(Booking.status == "pending_payment", Booking.hold_expires_at <= func.now())
        .order_by(Booking.hold_expires_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    return _expire(session, stale)


def _expire(session: Session, stale: Sequence[Booking]) -> int:
    count = 0
    for booking in stale:
        try:
            transitions.change_status(
                session=session,
                booking=booking,
                to="expired",
                actor=None,
                action="booking.expired",
                values={"hold_expires_at": booking.hold_expires_at},
            )
            count += 1
        except ConflictError:
            # Paid or cancelled in the meantime: nothing to release.
            continue
    return count
