"""What cancelling a booking costs: the shop's free window and late fee, as one rule.

``cancel_booking`` charges by it and the web app's cancel page shows it before the client
confirms, so the amount shown is the amount kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from chairside.accounts.principal import Principal
from chairside.booking.access import is_staff
from chairside.booking.models import Booking
from chairside.payments import service as payments
from chairside.shops import service as shops


@dataclass(frozen=True)
class CancellationTerms:
    """What cancelling a booking now costs under its shop's policy (shown before confirming)."""

    paid_minor: int  # taken and not yet given back
    fee_minor: int  # kept when cancelled now
    free_until: datetime  # the end of the free cancellation window (UTC)
    late: bool  # now is past free_until

    @property
    def refund_minor(self) -> int:
        return self.paid_minor - self.fee_minor


def cancellation_terms(
    *, session: Session, actor: Principal, booking: Booking, now: datetime | None = None
) -> CancellationTerms:
    """The fee and refund if ``actor`` cancelled ``booking`` now (the policy's one copy).

    Inside the shop's free window nothing is kept; later, a confirmed booking cancelled
    by its client keeps the shop's late fee (at most what was paid); staff never charge it.
    """
    shop = shops.get_shop(session=session, shop_id=booking.shop_id)
    by_staff = is_staff(session=session, actor=actor, booking=booking)
    free_until = booking.starts_at - timedelta(hours=shop.free_cancel_hours)
    late = (now or datetime.now(UTC)) > free_until
    paid = payments.paid_amount(session=session, booking_id=booking.id)
    fee = 0
    if late and not by_staff and booking.status == "confirmed":
        fee = min(shop.late_cancel_fee_minor, paid)
    return CancellationTerms(paid_minor=paid, fee_minor=fee, free_until=free_until, late=late)
