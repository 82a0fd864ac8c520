"""Reviews: one per completed booking, by its client, 1 to 5 stars and a short text."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from chairside.accounts.principal import Principal
from chairside.audit import service as audit
from chairside.booking.access import visible_booking
from chairside.booking.models import Review
from chairside.errors import ConflictError, InputError, NotFoundError
from chairside.shops import service as shops


def add_review(
    *, session: Session, actor: Principal, booking_id: uuid.UUID, rating: int, text: str
) -> Review:
    """The client's review of their completed booking."""
    booking = visible_booking(session=session, actor=actor, booking_id=booking_id)
    if booking.client_id != actor.id:
        raise NotFoundError(f"no booking {booking_id} of yours to review")
    if not 1 <= rating <= 5:
        raise InputError(f"rating {rating} is out of range; allowed: 1 to 5", field="rating")
    if booking.status != "completed":
        raise ConflictError(
            f"booking {booking.id} is {booking.status}; only completed bookings are reviewed",
            details={"current_status": booking.status},
        )
    if session.scalar(select(Review.id).where(Review.booking_id == booking.id)):
        raise ConflictError(f"booking {booking.id} already has a review")
    review = Review(
        booking_id=booking.id,
        client_id=actor.id,
        provider_id=booking.provider_id,
        rating=rating,
        text=text.strip(),
    )
    session.add(review)
    session.flush()
    audit.record(
        session=session,
        actor=actor,
        action="review.created",
        entity="review",
        entity_id=review.id,
        after={"booking_id": booking.id, "rating": rating},
    )
    return review


def list_reviews(*, session: Session, provider_id: uuid.UUID, limit: int = 50) -> Sequence[Review]:
    """A provider's reviews, newest first."""
    shops.get_provider(session=session, provider_id=provider_id)
    return session.scalars(
        select(Review)
        .where(Review.provider_id == provider_id)
        .order_by(Review.created_at.desc())
        .limit(limit)
    ).all()
