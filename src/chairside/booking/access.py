"""Who sees which booking: clients their own, shop staff their shop's, admins all.

Shop staff are the shop's owner and every provider account working in the shop (a
provider covers for a colleague or runs the front desk).

Anything else is "not found" rather than "forbidden", so booking ids leak nothing.
"""

from __future__ import annotations

import uuid

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session

from chairside.accounts.principal import Principal
from chairside.booking.models import Booking
from chairside.errors import NotFoundError
from chairside.shops.models import Provider, Shop


def visible_bookings(actor: Principal) -> Select[tuple[Booking]]:
    """A query of the bookings ``actor`` may see."""
    query = select(Booking)
    if actor.is_admin:
        return query
    owned_shops = select(Shop.id).where(Shop.owner_id == actor.id)
    staffed_shops = select(Provider.shop_id).where(Provider.user_id == actor.id)
    return query.where(
        or_(
            Booking.client_id == actor.id,
            Booking.shop_id.in_(owned_shops),
            Booking.shop_id.in_(staffed_shops),
        )
    )


def visible_booking(*, session: Session, actor: Principal, booking_id: uuid.UUID) -> Booking:
    """One booking ``actor`` may see, or NotFoundError."""
    booking = session.scalars(visible_bookings(actor).where(Booking.id == booking_id)).first()
    if booking is None:
        raise NotFoundError(f"no booking {booking_id} among yours")
    return booking


def is_staff(*, session: Session, actor: Principal, booking: Booking) -> bool:
    """True for the shop's owner, provider accounts working in the shop, and admins."""
    if actor.is_admin:
        return True
    shop = session.get(Shop, booking.shop_id)
    if shop is not None and shop.owner_id == actor.id:
        return True
    works_here = session.scalar(
        select(Provider.id)
        .where(Provider.shop_id == booking.shop_id, Provider.user_id == actor.id)
        .limit(1)
    )
    return works_here is not None
