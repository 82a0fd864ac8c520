"""A client's bookings: the list, one booking, pay, cancel (fee first), reschedule, review.

Every action is the API's service function (``booking.service``, ``payments.service``,
``booking.reviews``); the fee a cancellation would keep is ``booking.cancellation``, the
same function ``cancel_booking`` charges by, shown on the page before the client confirms.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import TypeAdapter, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from chairside.accounts.principal import Principal
from chairside.api.deps import ContextDep, SessionDep
from chairside.booking import cancellation, reviews, schemas
from chairside.booking import service as bookings
from chairside.booking.models import Booking, Review
from chairside.bounds import Instant
from chairside.config import Settings
from chairside.db import transaction
from chairside.errors import ConflictError, InputError
from chairside.payments import service as payments
from chairside.payments import simulated
from chairside.payments.models import Payment
from chairside.payments.provider import HostedCheckout
from chairside.payments.registry import provider_for
from chairside.payments.schemas import PayIn
from chairside.shops import service as shops
from chairside.shops.models import Provider, Service, Shop
from chairside.webapp.csrf import CheckedForm
from chairside.webapp.headers import policy_posting_to
from chairside.webapp.render import FormErrors, page, reject
from chairside.webapp.route import WebRoute
from chairside.webapp.session import ClientPerson
from chairside.webapp.slots import day_of_slots

router = APIRouter(route_class=WebRoute, include_in_schema=False)
_INSTANT: TypeAdapter[Any] = TypeAdapter(Instant)
Text = Annotated[str | None, Query(max_length=400)]
LIVE = ("pending_payment", "confirmed")
NOTICES = {
    "paid": "Paid. Your booking is confirmed.",
    "pending": "Your payment is being processed; the booking is confirmed once it clears.",
    "cancelled": "Your booking is cancelled.",
    "rescheduled": "Your booking is moved to the new time.",
    "reviewed": "Thank you for your review.",
}


@dataclass(frozen=True)
class BookingView:
    """A booking with what a page shows about it."""

    booking: Booking
    shop: Shop
    provider: Provider
    service: Service
    payments: list[Payment]
    review: Review | None

    @property
    def timezone(self) -> str:
        return self.shop.timezone

    @property
    def is_live(self) -> bool:
        return self.booking.status in LIVE

    @property
    def upcoming(self) -> bool:
        return self.booking.ends_at > datetime.now(UTC)

    @property
    def status_label(self) -> str:
        return self.booking.status.replace("_", " ")


def _view(session: Session, booking: Booking) -> BookingView:
    return BookingView(
        booking=booking,
        shop=shops.get_shop(session=session, shop_id=booking.shop_id),
        provider=shops.get_provider(session=session, provider_id=booking.provider_id),
        service=shops.get_service(session=session, service_id=booking.service_id),
        payments=list(payments.payments_of(session=session, booking_id=booking.id)),
        review=session.scalar(select(Review).where(Review.booking_id == booking.id)),
    )


def _mine(session: Session, person: Principal, booking_id: uuid.UUID) -> BookingView:
    booking = bookings.get_booking(session=session, actor=person, booking_id=booking_id)
    return _view(session, booking)


@router.get("/bookings")
def my_bookings(request: Request, person: ClientPerson, session: SessionDep) -> Response:
    """Upcoming and past bookings."""
    found = [
        _view(session, b) for b in bookings.list_bookings(session=session, actor=person, limit=200)
    ]
    upcoming = [v for v in found if v.upcoming and v.booking.status not in ("cancelled", "expired")]
    past = [v for v in reversed(found) if v not in upcoming]
    return page(request, "bookings.html", title="My bookings", upcoming=upcoming, past=past)


@router.get("/bookings/{booking_id}")
def booking_page(
    request: Request,
    booking_id: uuid.UUID,
    person: ClientPerson,
    session: SessionDep,
    done: Text = None,
) -> Response:
    """One booking, what it cost, and what can be done with it now."""
    view = _mine(session, person, booking_id)
    terms = (
        cancellation.cancellation_terms(session=session, actor=person, booking=view.booking)
        if view.is_live
        else None
    )
    return page(
        request,
        "booking.html",
        title="Your booking",
        view=view,
        terms=terms,
        notice=NOTICES.get(done or ""),
    )


# --- pay -------------------------------------------------------------------------------


def _pay_page(request: Request, view: BookingView, **extra: Any) -> dict[str, Any]:
    settings = request.app.state.context.settings
    test_cards = simulated.TEST_CARDS if settings.payment_provider == "simulated" else {}
    return {"title": "Pay", "view": view, "test_cards": test_cards, **extra}


def _hosted(session: Session, settings: Settings) -> HostedCheckout | None:
    """The configured provider when it takes cards on its own page (Stripe Checkout)."""
    provider = provider_for(settings.payment_provider, settings=settings, session=session)
    return provider if isinstance(provider, HostedCheckout) else None


@router.get("/bookings/{booking_id}/pay")
def pay_page(
    request: Request,
    booking_id: uuid.UUID,
    person: ClientPerson,
    session: SessionDep,
    context: ContextDep,
) -> Response:
    """The payment form of a held booking: a card form, or a button to the hosted page."""
    view = _mine(session, person, booking_id)
    if view.booking.status != "pending_payment":
        return RedirectResponse(f"/bookings/{booking_id}", status_code=303)
    hosted = _hosted(session, context.settings)
    if hosted is not None:
        return page(
            request,
            "pay_hosted.html",
            title="Pay",
            view=view,
            headers={"Content-Security-Policy": policy_posting_to(hosted.checkout_origin)},
        )
    return page(request, "pay.html", **_pay_page(request, view))


def _checkout(
    request: Request, booking_id: uuid.UUID, person: Principal, session: Session, settings: Settings
) -> Response:
    """Open the hosted checkout and send the browser there; no card data is read or sent."""
    site = str(request.base_url).rstrip("/")
    try:
        started = payments.start_checkout(
            session=session,
            settings=settings,
            actor=person,
            booking_id=booking_id,
            success_url=f"{site}/bookings/{booking_id}/paid",
            cancel_url=f"{site}/bookings/{booking_id}/pay/cancelled",
        )
    except ConflictError as exc:
        view = _mine(session, person, booking_id)
        raise reject(
            request,
            "pay_hosted.html",
            errors=FormErrors.from_error(exc, field=""),
            values={},
            status=409,
            title="Pay",
            view=view,
        ) from None
    return RedirectResponse(started.url, status_code=303)


@router.get("/bookings/{booking_id}/paid")
def paid_page(
    request: Request, booking_id: uuid.UUID, person: ClientPerson, session: SessionDep
) -> Response:
    """Where the hosted checkout returns after paying: shows, never decides, the outcome.

    Only the processor's signed webhook confirms; until it has, the page says the payment
    is being confirmed (and reloads itself, without JavaScript).
    """
    view = _mine(session, person, booking_id)
    confirming = view.booking.status == "pending_payment" and any(
        p.status == "pending" for p in view.payments
    )
    return page(
        request,
        "paid.html",
        title="Payment",
        view=view,
        confirming=confirming,
        headers={"Refresh": "3"} if confirming else None,
    )


@router.get("/bookings/{booking_id}/pay/cancelled")
def pay_cancelled_page(
    request: Request, booking_id: uuid.UUID, person: ClientPerson, session: SessionDep
) -> Response:
    """Where the hosted checkout returns when the client leaves it without paying."""
    view = _mine(session, person, booking_id)
    return page(request, "pay_cancelled.html", title="Payment not made", view=view)


@router.post("/bookings/{booking_id}/pay")
def pay(
    request: Request,
    booking_id: uuid.UUID,
    form: CheckedForm,
    person: ClientPerson,
    session: SessionDep,
    context: ContextDep,
) -> Response:
    """Charge the card; a success confirms the booking, a decline keeps it held."""
    if _hosted(session, context.settings) is not None:
        return _checkout(request, booking_id, person, session, context.settings)
    values = {k: v for k, v in form.items() if isinstance(v, str)}
    view = _mine(session, person, booking_id)
    card = values.get("payment_method", "").replace(" ", "")
    try:
        body = PayIn.model_validate({"payment_method": card})
        outcome = payments.pay_booking(
            session=session,
            settings=context.settings,
            actor=person,
            booking_id=booking_id,
            payment_method=body.payment_method,
        )
    except ValidationError as exc:
        errors = FormErrors.from_validation(exc, labels={"payment_method": "card number"})
        raise reject(
            request, "pay.html", errors=errors, values=values, **_pay_page(request, view)
        ) from None
    except InputError as exc:
        field = "" if isinstance(exc, ConflictError) else "payment_method"
        errors = FormErrors.from_error(exc, field=field)
        if exc.field and exc.field not in ("payment_method", ""):
            errors = FormErrors({"payment_method": exc.message})
        raise reject(
            request,
            "pay.html",
            errors=errors,
            values=values,
            status=409 if isinstance(exc, ConflictError) else 422,
            **_pay_page(request, view),
        ) from None
    if outcome.payment.status == "failed":
        # Returned, not raised: the declined attempt is recorded (the session commits).
        errors = FormErrors(
            {
                "payment_method": f"The card was declined ({outcome.payment.failure_reason}). "
                "Your time stays held; try another card."
            }
        )
        return page(
            request, "pay.html", status=402, errors=errors, values={}, **_pay_page(request, view)
        )
    done = "paid" if outcome.payment.status == "succeeded" else "pending"
    return RedirectResponse(f"/bookings/{booking_id}?done={done}", status_code=303)


# --- cancel ----------------------------------------------------------------------------


@router.get("/bookings/{booking_id}/cancel")
def cancel_page(
    request: Request, booking_id: uuid.UUID, person: ClientPerson, session: SessionDep
) -> Response:
    """What cancelling now costs (the shop's policy), before the client confirms."""
    view = _mine(session, person, booking_id)
    if not view.is_live:
        return RedirectResponse(f"/bookings/{booking_id}", status_code=303)
    terms = cancellation.cancellation_terms(session=session, actor=person, booking=view.booking)
    return page(request, "cancel.html", title="Cancel booking", view=view, terms=terms)


@router.post("/bookings/{booking_id}/cancel")
def cancel(
    request: Request,
    booking_id: uuid.UUID,
    form: CheckedForm,
    person: ClientPerson,
    session: SessionDep,
    context: ContextDep,
) -> Response:
    """Cancel; refunded in full inside the free window, less the fee after it."""
    values = {k: v for k, v in form.items() if isinstance(v, str)}
    view = _mine(session, person, booking_id)
    try:
        body = schemas.CancelIn.model_validate({"reason": values.get("reason", "")})
        bookings.cancel_booking(
            session=session,
            settings=context.settings,
            actor=person,
            booking_id=booking_id,
            reason=body.reason,
        )
    except (ValidationError, InputError) as exc:
        errors = (
            FormErrors.from_validation(exc)
            if isinstance(exc, ValidationError)
            else FormErrors.from_error(exc)
        )
        terms = cancellation.cancellation_terms(session=session, actor=person, booking=view.booking)
        raise reject(
            request,
            "cancel.html",
            errors=errors,
            values=values,
            status=409 if isinstance(exc, ConflictError) else 422,
            title="Cancel booking",
            view=view,
            terms=terms,
        ) from None
    return RedirectResponse(f"/bookings/{booking_id}?done=cancelled", status_code=303)


# --- reschedule ------------------------------------------------------------------------


@router.get("/bookings/{booking_id}/reschedule")
def reschedule_page(
    request: Request,
    booking_id: uuid.UUID,
    person: ClientPerson,
    context: ContextDep,
    day: Text = None,
) -> Response:
    """The provider's free times for picking the booking's new time (no fee to move it)."""
    with transaction(context.sessions) as session:  # done before the times are read
        view = _mine(session, person, booking_id)
    if not view.is_live:
        return RedirectResponse(f"/bookings/{booking_id}", status_code=303)
    extra: dict[str, Any] = {
        "title": "Move your booking",
        "nonce": "",
        "action": f"/bookings/{booking_id}/reschedule",
        "reschedule": view.booking,
    }
    try:
        free = day_of_slots(
            context=context,
            provider_id=view.booking.provider_id,
            service_id=view.booking.service_id,
            day=day,
        )
    except InputError as exc:
        if exc.field != "day":
            raise
        free = day_of_slots(
            context=context,
            provider_id=view.booking.provider_id,
            service_id=view.booking.service_id,
            day=None,
        )
        raise reject(
            request,
            "availability.html",
            errors=FormErrors.from_error(exc),
            values={"day": day or ""},
            free=free,
            **extra,
        ) from None
    return page(request, "availability.html", free=free, **extra)


def _new_start(value: str | None) -> datetime:
    try:
        start: datetime = _INSTANT.validate_python(value or "")
    except ValidationError:
        raise InputError(
            "that is not a time; pick one of the free times shown", field="starts_at"
        ) from None
    return start


@router.get("/bookings/{booking_id}/reschedule/confirm")
def reschedule_confirm_page(
    request: Request,
    booking_id: uuid.UUID,
    person: ClientPerson,
    session: SessionDep,
    starts_at: Text = None,
) -> Response:
    """From, to, and the fee (none) before the client confirms the move."""
    view = _mine(session, person, booking_id)
    start = _new_start(starts_at)
    return page(
        request, "reschedule.html", title="Confirm the new time", view=view, new_start=start
    )


@router.post("/bookings/{booking_id}/reschedule")
def reschedule(
    request: Request,
    booking_id: uuid.UUID,
    form: CheckedForm,
    person: ClientPerson,
    session: SessionDep,
    context: ContextDep,
) -> Response:
    """Move the booking; a time taken meanwhile sends the client back to fresh times."""
    values = {k: v for k, v in form.items() if isinstance(v, str)}
    view = _mine(session, person, booking_id)
    try:
        start = _new_start(values.get("starts_at"))
        bookings.reschedule_booking(
            session=session,
            actor=person,
            booking_id=booking_id,
            starts_at=start,
            settings=context.settings,  # its reminders move through today's channels
        )
    except InputError as exc:
        new_start = None
        try:
            new_start = _new_start(values.get("starts_at"))
        except InputError:
            pass
        message = exc.message
        if isinstance(exc, ConflictError):
            message = f"Sorry, that time cannot be taken ({exc.message}). Pick another time."
        raise reject(
            request,
            "reschedule.html",
            errors=FormErrors({"": message}),
            values=values,
            status=409 if isinstance(exc, ConflictError) else 422,
            title="Confirm the new time",
            view=view,
            new_start=new_start,
        ) from None
    return RedirectResponse(f"/bookings/{booking_id}?done=rescheduled", status_code=303)


# --- review ----------------------------------------------------------------------------


@router.get("/bookings/{booking_id}/review")
def review_page(
    request: Request, booking_id: uuid.UUID, person: ClientPerson, session: SessionDep
) -> Response:
    """The review form of a completed visit."""
    view = _mine(session, person, booking_id)
    return page(request, "review.html", title="Review your visit", view=view, values={"rating": ""})


@router.post("/bookings/{booking_id}/review")
def review(
    request: Request,
    booking_id: uuid.UUID,
    form: CheckedForm,
    person: ClientPerson,
    session: SessionDep,
) -> Response:
    """Store the review (completed visits, once)."""
    values = {k: v for k, v in form.items() if isinstance(v, str)}
    view = _mine(session, person, booking_id)
    try:
        given = {"rating": values.get("rating"), "text": values.get("text", "")}
        body = schemas.ReviewIn.model_validate({k: v for k, v in given.items() if v})
        reviews.add_review(
            session=session,
            actor=person,
            booking_id=booking_id,
            rating=body.rating,
            text=body.text,
        )
    except (ValidationError, InputError) as exc:
        errors = (
            FormErrors.from_validation(exc, labels={"rating": "rating", "text": "review"})
            if isinstance(exc, ValidationError)
            else FormErrors.from_error(exc)
        )
        raise reject(
            request,
            "review.html",
            errors=errors,
            values=values,
            status=409 if isinstance(exc, ConflictError) else 422,
            title="Review your visit",
            view=view,
        ) from None
    return RedirectResponse(f"/bookings/{booking_id}?done=reviewed", status_code=303)
