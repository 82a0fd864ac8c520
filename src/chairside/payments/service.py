"""Paying for bookings, refunding them, and acting on payment webhooks.

A webhook is processed in one transaction: its event id is inserted under the unique
``(provider, event_id)`` constraint first, so a duplicate delivery finds the row and
changes nothing, and the payment and booking changes commit together with that row.
Events may arrive out of order: a final payment state (succeeded, failed) is never
downgraded by a late ``pending``. A payment that succeeds after its hold ran out
confirms the booking if the slot is still free, and is refunded otherwise.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from chairside.accounts.principal import Principal
from chairside.audit import service as audit
from chairside.booking import transitions
from chairside.booking.access import is_staff, visible_booking
from chairside.booking.models import Booking
from chairside.config import Settings
from chairside.errors import ConflictError, InputError, NotFoundError
from chairside.payments.models import Payment, Refund, WebhookEvent
from chairside.payments.provider import CheckoutStart, HostedCheckout, PaymentEvent, PaymentProvider
from chairside.payments.registry import provider_for
from chairside.shops.models import Service


@dataclass(frozen=True)
class PaymentOutcome:
    """The booking after a payment attempt, and the payment recorded for it."""

    booking: Booking
    payment: Payment


def _snapshot(payment: Payment) -> dict[str, object]:
    return {
        "status": payment.status,
        "amount_minor": payment.amount_minor,
        "refunded_minor": payment.refunded_minor,
        "provider_ref": payment.provider_ref,
    }


def payments_of(*, session: Session, booking_id: uuid.UUID) -> Sequence[Payment]:
    """Every payment attempt of a booking, oldest first."""
    return session.scalars(
        select(Payment).where(Payment.booking_id == booking_id).order_by(Payment.created_at)
    ).all()


def paid_amount(*, session: Session, booking_id: uuid.UUID) -> int:
    """Money taken for a booking and not yet given back."""
    total = session.scalar(
        select(func.coalesce(func.sum(Payment.amount_minor - Payment.refunded_minor), 0)).where(
            Payment.booking_id == booking_id,
            Payment.status.in_(("succeeded", "partially_refunded")),
        )
    )
    return int(total or 0)


def _payable_booking(
    *,
    session: Session,
    actor: Principal,
    booking_id: uuid.UUID,
    abandon: HostedCheckout | None = None,
) -> Booking:
    """The actor's held booking, locked, with no payment under way (else why not)."""
    booking = visible_booking(session=session, actor=actor, booking_id=booking_id)
    if booking.client_id != actor.id:
        raise NotFoundError(f"no booking {booking_id} of yours to pay")
    # Lock the booking so two concurrent payment attempts cannot both charge the card.
    locked = session.scalar(
        select(Booking)
        .where(Booking.id == booking.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    assert locked is not None
    booking = locked
    if booking.status != "pending_payment":
        raise ConflictError(
            f"booking {booking.id} is {booking.status}; only pending_payment bookings are paid",
            details={"current_status": booking.status},
        )
    now = datetime.now(UTC)
    if booking.hold_expires_at is not None and booking.hold_expires_at <= now:
        raise ConflictError(
            f"the hold on booking {booking.id} ran out at {booking.hold_expires_at.isoformat()}; "
            "book the slot again",
            details={"current_status": "expired"},
        )
    for earlier in payments_of(session=session, booking_id=booking.id):
        if earlier.status == "pending" and abandon is not None:
            if _abandoned(session=session, provider=abandon, payment=earlier):
                continue
        if earlier.status in ("pending", "succeeded"):
            raise ConflictError(
                f"booking {booking.id} already has a {earlier.status} payment {earlier.id}",
                details={"current_status": booking.status},
            )
    return booking


def _abandoned(*, session: Session, provider: HostedCheckout, payment: Payment) -> bool:
    """Close a hosted checkout left unpaid (the client came back to pay again)."""
    if payment.provider != getattr(provider, "name", None):
        return False
    if not provider.abandon_checkout(provider_ref=payment.provider_ref):
        return False  # paid meanwhile: its webhook confirms the booking
    before = _snapshot(payment)
    payment.status = "failed"
    payment.failure_reason = "checkout_abandoned"
    payment.updated_at = datetime.now(UTC)
    session.flush()
    audit.record(
        session=session,
        actor=None,
        action="payment.failed",
        entity="payment",
        entity_id=payment.id,
        before=before,
        after={**_snapshot(payment), "failure_reason": payment.failure_reason},
    )
    return True


def start_checkout(
    *,
    session: Session,
    settings: Settings,
    actor: Principal,
    booking_id: uuid.UUID,
    success_url: str,
    cancel_url: str,
) -> CheckoutStart:
    """Open the processor's hosted payment page for the booking's price.

    The payment is recorded ``pending``; nothing is confirmed here nor on the client's
    return: only the processor's signed webhook settles it (:func:`handle_webhook`).
    """
    provider = provider_for(settings.payment_provider, settings=settings, session=session)
    if not isinstance(provider, HostedCheckout):
        raise InputError(
            f"the {provider.name} provider takes cards directly, not on a hosted page",
            field="provider",
        )
    booking = _payable_booking(
        session=session, actor=actor, booking_id=booking_id, abandon=provider
    )
    attempt = len(payments_of(session=session, booking_id=booking.id)) + 1
    payment_id = uuid.uuid4()
    service = session.get(Service, booking.service_id)
    started = provider.start_checkout(
        amount_minor=booking.price_minor,
        currency=booking.currency,
        description=service.name if service is not None else "Booking",
        metadata={"booking_id": str(booking.id), "payment_id": str(payment_id)},
        success_url=success_url,
        cancel_url=cancel_url,
        idempotency_key=f"booking-{booking.id}-checkout-{attempt}",
    )
    payment = Payment(
        id=payment_id,
        booking_id=booking.id,
        provider=provider.name,
        provider_ref=started.provider_ref,
        amount_minor=booking.price_minor,
        refunded_minor=0,
        currency=booking.currency,
        status="pending",
    )
    session.add(payment)
    session.flush()
    audit.record(
        session=session,
        actor=actor,
        action="payment.pending",
        entity="payment",
        entity_id=payment.id,
        after={**_snapshot(payment), "booking_id": booking.id, "checkout": True},
    )
    return started


def pay_booking(
    *,
    session: Session,
    settings: Settings,
    actor: Principal,
    booking_id: uuid.UUID,
    payment_method: str,
    provider_name: str | None = None,
) -> PaymentOutcome:
    """Charge the booking's price; a success confirms it, a decline leaves it payable."""
    booking = _payable_booking(session=session, actor=actor, booking_id=booking_id)
    name = provider_name or settings.payment_provider
    provider = provider_for(name, settings=settings, session=session)
    attempt = len(payments_of(session=session, booking_id=booking.id)) + 1
    result = provider.charge(
        amount_minor=booking.price_minor,
        currency=booking.currency,
        payment_method=payment_method,
        reference=str(booking.id),
        idempotency_key=f"booking-{booking.id}-attempt-{attempt}",
    )
    payment = Payment(
        booking_id=booking.id,
        provider=provider.name,
        provider_ref=result.provider_ref,
        amount_minor=booking.price_minor,
        refunded_minor=0,
        currency=booking.currency,
        status=result.status,
        failure_reason=result.failure_reason,
        card_last4=result.card_last4,
    )
    session.add(payment)
    session.flush()
    audit.record(
        session=session,
        actor=actor,
        action=f"payment.{result.status}",
        entity="payment",
        entity_id=payment.id,
        after={
            **_snapshot(payment),
            "booking_id": booking.id,
            "failure_reason": result.failure_reason,
        },
    )
    if result.status == "succeeded":
        booking = transitions.change_status(
            session=session,
            booking=booking,
            to="confirmed",
            actor=actor,
            action="booking.confirmed",
            values={"hold_expires_at": None},
        )
    return PaymentOutcome(booking=booking, payment=payment)


def refund_booking(
    *,
    session: Session,
    settings: Settings,
    actor: Principal | None,
    booking_id: uuid.UUID,
    amount_minor: int,
    reason: str,
) -> list[Refund]:
    """Refund ``amount_minor`` across the booking's succeeded payments."""
    refunds = []
    remaining = amount_minor
    for payment in payments_of(session=session, booking_id=booking_id):
        if remaining <= 0:
            break
        if payment.status not in ("succeeded", "partially_refunded"):
            continue
        part = min(remaining, payment.amount_minor - payment.refunded_minor)
        if part > 0:
            refunds.append(
                refund_payment(
                    session=session,
                    settings=settings,
                    actor=actor,
                    payment=payment,
                    amount_minor=part,
                    reason=reason,
                )
            )
            remaining -= part
    return refunds


def refund_payment(
    *,
    session: Session,
    settings: Settings,
    actor: Principal | None,
    payment: Payment,
    amount_minor: int,
    reason: str,
) -> Refund:
    """Give back part or all of one payment, at its provider, and record it."""
    refundable = payment.amount_minor - payment.refunded_minor
    if payment.status not in ("succeeded", "partially_refunded"):
        raise ConflictError(
            f"payment {payment.id} is {payment.status}; only succeeded payments are refunded"
        )
    if not 0 < amount_minor <= refundable:
        raise InputError(
            f"refund amount {amount_minor} is not between 1 and the refundable {refundable}",
            field="amount_minor",
        )
    provider = provider_for(payment.provider, settings=settings, session=session)
    count = session.scalar(select(func.count()).where(Refund.payment_id == payment.id)) or 0
    result = provider.refund(
        provider_ref=payment.provider_ref,
        amount_minor=amount_minor,
        idempotency_key=f"refund-{payment.id}-{count + 1}",
    )
    before = _snapshot(payment)
    refund = Refund(
        payment_id=payment.id,
        provider_ref=result.provider_ref,
        amount_minor=amount_minor,
        reason=reason,
    )
    session.add(refund)
    payment.refunded_minor += amount_minor
    payment.status = (
        "refunded" if payment.refunded_minor == payment.amount_minor else "partially_refunded"
    )
    payment.updated_at = datetime.now(UTC)
    session.flush()
    audit.record(
        session=session,
        actor=actor,
        action="payment.refunded",
        entity="payment",
        entity_id=payment.id,
        before=before,
        after={**_snapshot(payment), "refund_id": refund.id, "reason": reason},
    )
    return refund


def refund_by_staff(
    *,
    session: Session,
    settings: Settings,
    actor: Principal,
    payment_id: uuid.UUID,
    amount_minor: int,
    reason: str,
) -> Refund:
    """A refund an owner grants on a payment of their shop (full or partial)."""
    payment = session.get(Payment, payment_id)
    booking = (
        visible_booking(session=session, actor=actor, booking_id=payment.booking_id)
        if payment is not None
        else None
    )
    if (
        payment is None
        or booking is None
        or not is_staff(session=session, actor=actor, booking=booking)
    ):
        raise NotFoundError(f"no payment {payment_id} in your shops")
    return refund_payment(
        session=session,
        settings=settings,
        actor=actor,
        payment=payment,
        amount_minor=amount_minor,
        reason=reason or "refund granted by the shop",
    )


def handle_webhook(
    *,
    session: Session,
    settings: Settings,
    provider_name: str,
    body: bytes,
    headers: Mapping[str, str],
) -> str:
    """Verify, de-duplicate and apply one webhook; returns what was done."""
    provider = provider_for(provider_name, settings=settings, session=session)
    event = provider.parse_webhook(body=body, headers=headers)
    claimed = session.execute(
        insert(WebhookEvent)
        .values(
            provider=provider.name,
            event_id=event.event_id,
            type=event.raw_type,
            provider_ref=event.provider_ref,
        )
        .on_conflict_do_nothing()
        .returning(WebhookEvent.id)
    ).scalar_one_or_none()
    if claimed is None:
        return "duplicate"
    outcome = _apply(session=session, settings=settings, provider=provider, event=event)
    row = session.get(WebhookEvent, claimed)
    assert row is not None
    row.outcome = outcome
    return outcome


def _apply(
    *, session: Session, settings: Settings, provider: PaymentProvider, event: PaymentEvent
) -> str:
    if event.kind == "other" or event.provider_ref is None:
        return "ignored: not a payment event"
    payment = session.scalar(
        select(Payment)
        .where(Payment.provider == provider.name, Payment.provider_ref == event.provider_ref)
        .with_for_update()
    )
    if payment is None:
        return "ignored: unknown payment"
    if event.kind == "payment.pending":
        # Out of order: a late "pending" never downgrades a final state.
        return "ignored: payment already final" if payment.status != "pending" else "pending"
    if payment.status != "pending":
        return f"ignored: payment already {payment.status}"
    before = _snapshot(payment)
    payment.status = "succeeded" if event.kind == "payment.succeeded" else "failed"
    if payment.status == "succeeded" and event.settled_ref:
        payment.provider_ref = event.settled_ref  # a hosted checkout's money: refunds use it
    payment.failure_reason = event.failure_reason if payment.status == "failed" else None
    payment.updated_at = datetime.now(UTC)
    session.flush()
    audit.record(
        session=session,
        actor=None,
        action=f"payment.{payment.status}",
        entity="payment",
        entity_id=payment.id,
        before=before,
        after={**_snapshot(payment), "event_id": event.event_id},
    )
    if payment.status == "failed":
        return "payment failed"
    return _settle_late_or_on_time(session=session, settings=settings, payment=payment)


def _settle_late_or_on_time(*, session: Session, settings: Settings, payment: Payment) -> str:
    booking = session.scalar(
        select(Booking)
        .where(Booking.id == payment.booking_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    assert booking is not None
    if booking.status == "confirmed":
        return "already confirmed"
    if booking.status in ("pending_payment", "expired"):
        try:
            transitions.change_status(
                session=session,
                booking=booking,
                to="confirmed",
                actor=None,
                action="booking.confirmed",
                values={"hold_expires_at": None},
            )
            return "confirmed"
        except transitions.SlotTakenError:
            reason = "paid after the hold ran out and the slot was taken meanwhile"
            refund_payment(
                session=session,
                settings=settings,
                actor=None,
                payment=payment,
                amount_minor=payment.amount_minor,
                reason=reason,
            )
            return "refunded: slot taken"
    refund_payment(
        session=session,
        settings=settings,
        actor=None,
        payment=payment,
        amount_minor=payment.amount_minor,
        reason=f"paid after the booking became {booking.status}",
    )
    return f"refunded: booking {booking.status}"
