"""The booking invariant, checkable on any copy of the database (a restored backup too).

No two live bookings of one provider overlap, buffers included. The exclusion constraint
makes this impossible to break through SQL; checking it anyway proves the constraint is
present and valid on the copy being checked (a restore, a replica, a hand-made fix).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.orm import Session

_OVERLAPS = text(
    """
    SELECT a.id::text, b.id::text, a.provider_id::text,
           greatest(a.buffered_starts_at, b.buffered_starts_at),
           least(a.buffered_ends_at, b.buffered_ends_at)
    FROM bookings a
    JOIN bookings b
      ON a.provider_id = b.provider_id AND a.id < b.id
     AND tstzrange(a.buffered_starts_at, a.buffered_ends_at, '[)')
         && tstzrange(b.buffered_starts_at, b.buffered_ends_at, '[)')
    WHERE a.status IN ('pending_payment', 'confirmed')
      AND b.status IN ('pending_payment', 'confirmed')
    ORDER BY 4
    LIMIT :limit
    """
)

_CONSTRAINT = text(
    """
    SELECT convalidated FROM pg_constraint
    WHERE conname = 'bookings_no_overlap' AND contype = 'x'
    """
)


@dataclass(frozen=True)
class Overlap:
    """Two live bookings of one provider sharing time."""

    booking_a: str
    booking_b: str
    provider_id: str
    starts_at: datetime
    ends_at: datetime


@dataclass(frozen=True)
class IntegrityReport:
    """What the invariant check found."""

    constraint_present: bool
    overlaps: list[Overlap]

    @property
    def ok(self) -> bool:
        return self.constraint_present and not self.overlaps


def check_bookings(*, session: Session, limit: int = 100) -> IntegrityReport:
    """Look for overlapping live bookings and for the exclusion constraint itself."""
    valid = session.execute(_CONSTRAINT).scalar_one_or_none()
    rows = session.execute(_OVERLAPS, {"limit": limit}).all()
    return IntegrityReport(
        constraint_present=bool(valid),
        overlaps=[Overlap(r[0], r[1], r[2], r[3], r[4]) for r in rows],
    )
