"""The seam to card processors: the :class:`PaymentProvider` protocol and what it returns.

One module per implementation (``simulated``, ``stripe_provider``) and one contract test
suite (``tests/payments/test_provider_contract.py``) run against each. The rest of the
booking side speaks only these types.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

ChargeStatus = Literal["succeeded", "failed", "pending"]
EventKind = Literal["payment.succeeded", "payment.failed", "payment.pending", "other"]


@dataclass(frozen=True)
class ChargeResult:
    """What a processor said about a charge attempt."""

    provider_ref: str
    status: ChargeStatus
    failure_reason: str | None = None
    card_last4: str | None = None


@dataclass(frozen=True)
class RefundResult:
    """A refund the processor accepted."""

    provider_ref: str
    amount_minor: int


@dataclass(frozen=True)
class PaymentEvent:
    """A verified webhook event, reduced to what the booking side acts on."""

    event_id: str
    kind: EventKind
    raw_type: str
    provider_ref: str | None
    failure_reason: str | None = None
    #: The processor's id of the money once a hosted checkout is paid (Stripe's
    #: PaymentIntent behind a Checkout Session); refunds use it from then on.
    settled_ref: str | None = None


@dataclass(frozen=True)
class CheckoutStart:
    """A hosted payment page opened for one payment: where to send the browser."""

    url: str
    provider_ref: str


class PaymentProvider(Protocol):
    """A card processor: charge, refund, and verify its webhooks."""

    name: str

    def charge(
        self,
        *,
        amount_minor: int,
        currency: str,
        payment_method: str,
        reference: str,
        idempotency_key: str,
    ) -> ChargeResult:
        """Charge ``payment_method``; declines are a ``failed`` result, not an exception."""
        ...

    def refund(self, *, provider_ref: str, amount_minor: int, idempotency_key: str) -> RefundResult:
        """Give back ``amount_minor`` of a succeeded charge."""
        ...

    def parse_webhook(self, *, body: bytes, headers: Mapping[str, str]) -> PaymentEvent:
        """Verify a webhook's signature on the raw body and read the event (AuthError if bad)."""
        ...


@runtime_checkable
class HostedCheckout(Protocol):
    """A processor whose own page takes the card (card numbers never reach our server).

    The payment is recorded ``pending`` with the checkout's reference; only the
    processor's signed webhook settles it, through the same path as any other payment.
    """

    #: Where the hosted page lives (the pay page's Content-Security-Policy allows it).
    checkout_origin: str

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
        """Open the processor's payment page for ``amount_minor``."""
        ...

    def abandon_checkout(self, *, provider_ref: str) -> bool:
        """Close an unpaid checkout so it can no longer be paid; False if it was paid."""
        ...
