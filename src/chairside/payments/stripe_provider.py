"""The ``stripe`` provider: the official SDK, PaymentIntents confirmed server-side.

``payment_method`` is a Stripe PaymentMethod id (in test mode e.g. ``pm_card_visa``,
``pm_card_chargeDeclined``). Webhooks are verified with ``stripe.Webhook`` against
``CHAIRSIDE_STRIPE_WEBHOOK_SECRET``. ``CHAIRSIDE_STRIPE_API_BASE`` points the SDK at
another host (the tests' local stand-in for api.stripe.com).

In the web app the card is taken on Stripe Checkout's hosted page
(:meth:`StripeProvider.start_checkout`): the payment is recorded pending under the
Checkout Session's id, and ``checkout.session.completed`` (paid) settles it through the
same webhook path as ``payment_intent.succeeded``, moving the payment's reference to the
PaymentIntent so refunds work on it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import stripe

from chairside.errors import AuthError, DependencyDownError, InputError
from chairside.payments.provider import (
    ChargeResult,
    CheckoutStart,
    EventKind,
    PaymentEvent,
    RefundResult,
)

_EVENT_KINDS: dict[str, EventKind] = {
    "payment_intent.succeeded": "payment.succeeded",
    "payment_intent.payment_failed": "payment.failed",
    "payment_intent.processing": "payment.pending",
    "checkout.session.async_payment_succeeded": "payment.succeeded",
    "checkout.session.async_payment_failed": "payment.failed",
    "checkout.session.expired": "payment.failed",
}


class StripeProvider:
    """PaymentProvider backed by Stripe's API."""

    name = "stripe"

    def __init__(self, *, api_key: str, webhook_secret: str, api_base: str | None = None) -> None:
        if not api_key:
            raise InputError("the stripe provider needs CHAIRSIDE_STRIPE_API_KEY", field="provider")
        base: Any = {"api": api_base} if api_base else None
        self._client = stripe.StripeClient(api_key, base_addresses=base, max_network_retries=1)
        self._webhook_secret = webhook_secret
        self.checkout_origin = api_base.rstrip("/") if api_base else "https://checkout.stripe.com"

    def charge(
        self,
        *,
        amount_minor: int,
        currency: str,
        payment_method: str,
        reference: str,
        idempotency_key: str,
    ) -> ChargeResult:
        """Create and confirm a PaymentIntent."""
        try:
            intent = self._client.v1.payment_intents.create(
                params={
                    "amount": amount_minor,
                    "currency": currency.lower(),
                    "payment_method": payment_method,
                    "confirm": True,
                    "automatic_payment_methods": {"enabled": True, "allow_redirects": "never"},
                    "metadata": {"booking_id": reference},
                },
                options={"idempotency_key": idempotency_key},
            )
        except stripe.CardError as exc:
            error = exc.error
            intent_obj = getattr(error, "payment_intent", None) if error else None
            ref = str(intent_obj["id"]) if intent_obj else f"declined:{idempotency_key}"
            reason = (error.decline_code or error.code) if error else None
            return ChargeResult(
                provider_ref=ref, status="failed", failure_reason=reason or "declined"
            )
        except stripe.InvalidRequestError as exc:
            raise InputError(
                f"stripe refused the payment method: {exc.user_message or exc}",
                field="payment_method",
            ) from None
        except stripe.StripeError as exc:
            raise DependencyDownError(f"stripe did not answer properly: {exc}") from None
        status = str(intent["status"])
        if status == "succeeded":
            return ChargeResult(provider_ref=str(intent["id"]), status="succeeded")
        if status in ("processing", "requires_capture"):
            return ChargeResult(provider_ref=str(intent["id"]), status="pending")
        return ChargeResult(provider_ref=str(intent["id"]), status="failed", failure_reason=status)

    def refund(self, *, provider_ref: str, amount_minor: int, idempotency_key: str) -> RefundResult:
        """Refund part or all of a PaymentIntent."""
        try:
            refund = self._client.v1.refunds.create(
                params={"payment_intent": provider_ref, "amount": amount_minor},
                options={"idempotency_key": idempotency_key},
            )
        except stripe.InvalidRequestError as exc:
            raise InputError(
                f"stripe refused the refund: {exc.user_message or exc}", field="amount_minor"
            ) from None
        except stripe.StripeError as exc:
            raise DependencyDownError(f"stripe did not answer properly: {exc}") from None
        return RefundResult(provider_ref=str(refund["id"]), amount_minor=int(refund["amount"]))

    def start_checkout(
        self,
        *,
        amount_minor: int,
        currency: str,
        description: str,
        metadata: Mapping[str, str],
        success_url: str,
        cancel_url: str,
        idempotency_key: str,
    ) -> CheckoutStart:
        """Create a Checkout Session (mode=payment) for one line item of ``amount_minor``."""
        try:
            checkout = self._client.v1.checkout.sessions.create(
                params={
                    "mode": "payment",
                    "line_items": [
                        {
                            "quantity": 1,
                            "price_data": {
                                "currency": currency.lower(),
                                "unit_amount": amount_minor,
                                "product_data": {"name": description},
                            },
                        }
                    ],
                    "metadata": dict(metadata),
                    "payment_intent_data": {"metadata": dict(metadata)},
                    "success_url": success_url,
                    "cancel_url": cancel_url,
                },
                options={"idempotency_key": idempotency_key},
            )
        except stripe.StripeError as exc:
            raise DependencyDownError(f"stripe did not open a checkout: {exc}") from None
        if not checkout.url:
            raise DependencyDownError(f"stripe checkout {checkout.id} came without a url")
        return CheckoutStart(url=str(checkout.url), provider_ref=str(checkout.id))

    def abandon_checkout(self, *, provider_ref: str) -> bool:
        """Expire an open Checkout Session; False when it was completed (paid) meanwhile."""
        try:
            self._client.v1.checkout.sessions.expire(provider_ref)
            return True
        except stripe.InvalidRequestError:
            pass  # not open any more: expired already, or completed
        except stripe.StripeError as exc:
            raise DependencyDownError(f"stripe did not answer properly: {exc}") from None
        try:
            found = self._client.v1.checkout.sessions.retrieve(provider_ref)
        except stripe.StripeError as exc:
            raise DependencyDownError(f"stripe did not answer properly: {exc}") from None
        return str(found["status"]) != "complete"

    def parse_webhook(self, *, body: bytes, headers: Mapping[str, str]) -> PaymentEvent:
        """Verify a Stripe webhook with the SDK and read it."""
        try:
            event = stripe.Webhook.construct_event(  # type: ignore[no-untyped-call]
                body.decode("utf-8"), headers.get("stripe-signature", ""), self._webhook_secret
            )
        except stripe.SignatureVerificationError as exc:
            raise AuthError(f"stripe webhook signature invalid: {exc}") from None
        except ValueError:
            raise InputError("stripe webhook body is not JSON") from None
        obj = event["data"]["object"]
        if obj.get("object") == "checkout.session":
            return _checkout_event(event, obj)
        failure = None
        last_error = obj.get("last_payment_error") if hasattr(obj, "get") else None
        if last_error:
            failure = last_error.get("decline_code") or last_error.get("code")
        return PaymentEvent(
            event_id=str(event["id"]),
            kind=_EVENT_KINDS.get(str(event["type"]), "other"),
            raw_type=str(event["type"]),
            provider_ref=str(obj["id"]) if obj.get("object") == "payment_intent" else None,
            failure_reason=failure,
        )


def _checkout_event(event: Any, checkout: Any) -> PaymentEvent:
    raw_type = str(event["type"])
    kind = _EVENT_KINDS.get(raw_type, "other")
    if raw_type == "checkout.session.completed":
        paid = checkout.get("payment_status") in ("paid", "no_payment_required")
        kind = "payment.succeeded" if paid else "payment.pending"
    intent = checkout.get("payment_intent")
    if intent is not None and not isinstance(intent, str):
        intent = intent.get("id")
    return PaymentEvent(
        event_id=str(event["id"]),
        kind=kind,
        raw_type=raw_type,
        provider_ref=str(checkout["id"]),
        failure_reason="checkout_expired" if raw_type == "checkout.session.expired" else None,
        settled_ref=str(intent) if intent and kind == "payment.succeeded" else None,
    )
