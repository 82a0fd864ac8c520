"""HTTP routes of payments: pay a booking, refund a payment, receive webhooks."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Request, status
from fastapi.responses import JSONResponse

from chairside.accounts.deps import CurrentUser
from chairside.api.deps import ContextDep, SessionDep
from chairside.api.problems import documented, problem_response
from chairside.booking.router import render
from chairside.booking.schemas import BookingOut
from chairside.payments import delivery, schemas, service

router = APIRouter(prefix="/api/v1", tags=["payments"])


async def raw_body(request: Request) -> bytes:
    """The request body exactly as sent: webhook signatures are over these bytes."""
    return await request.body()


@router.post(
    "/bookings/{booking_id}/pay",
    response_model=BookingOut,
    responses={
        202: {"model": BookingOut, "description": "Payment pending; a webhook settles it"},
        **documented(402),
    },
)
def pay_booking(
    booking_id: uuid.UUID,
    body: schemas.PayIn,
    user: CurrentUser,
    session: SessionDep,
    context: ContextDep,
) -> object:
    """Pay a pending_payment booking; success confirms it."""
    outcome = service.pay_booking(
        session=session,
        settings=context.settings,
        actor=user,
        booking_id=booking_id,
        payment_method=body.payment_method,
        provider_name=body.provider,
    )
    rendered = render(session, outcome.booking)
    if outcome.payment.status == "failed":
        # The failed attempt is recorded (the session still commits); the client sees 402.
        hold = rendered.hold_expires_at
        until = hold.isoformat() if hold else "its hold ends"
        return problem_response(
            402,
            f"payment declined: {outcome.payment.failure_reason}; the booking stays held until "
            f"{until}; pay again with another card",
            extra={"booking": rendered.model_dump(mode="json")},
        )
    if outcome.payment.status == "pending":
        if outcome.payment.provider == "simulated":
            delivery.schedule_simulated_delivery(
                context=context, payment_ref=outcome.payment.provider_ref
            )
        return JSONResponse(rendered.model_dump(mode="json"), status_code=status.HTTP_202_ACCEPTED)
    return rendered


@router.post(
    "/payments/{payment_id}/refunds",
    status_code=status.HTTP_201_CREATED,
    response_model=schemas.RefundOut,
)
def refund_payment(
    payment_id: uuid.UUID,
    body: schemas.RefundIn,
    user: CurrentUser,
    session: SessionDep,
    context: ContextDep,
) -> object:
    """Refund part or all of a payment (the shop's owner)."""
    return service.refund_by_staff(
        session=session,
        settings=context.settings,
        actor=user,
        payment_id=payment_id,
        amount_minor=body.amount_minor,
        reason=body.reason,
    )


@router.post(
    "/webhooks/{provider_name}", response_model=schemas.WebhookOut, responses=documented(401)
)
def receive_webhook(
    provider_name: str,
    request: Request,
    body: Annotated[bytes, Depends(raw_body)],
    session: SessionDep,
    context: ContextDep,
) -> object:
    """A payment provider's signed event; duplicates are acknowledged and ignored."""
    outcome = service.handle_webhook(
        session=session,
        settings=context.settings,
        provider_name=provider_name,
        body=body,
        headers={k.lower(): v for k, v in request.headers.items()},
    )
    return schemas.WebhookOut(outcome=outcome)
