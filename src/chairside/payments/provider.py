"""The seam to card processors: the :class:`PaymentProvider` protocol and what it returns.

One module per implementation (``simulated``, ``stripe_provider``) and one contract test
suite (``tests/payments/test_provider_contract.py``) run against each. The rest of the
booking side speaks only these types.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, Protocol

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
