"""The stripe adapter's hosted checkout at its HTTP boundary (the local api.stripe.com)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from chairside.payments.provider import HostedCheckout
from chairside.payments.simulated import SimulatedProvider
from chairside.payments.stripe_provider import StripeProvider
from tests.payments.fake_stripe import FakeStripe, fake_stripe


@pytest.fixture
def server() -> Iterator[FakeStripe]:
    with fake_stripe() as stripe:
        yield stripe


def _provider(server: FakeStripe) -> StripeProvider:
    return StripeProvider(
        api_key="sk_test_checkout", webhook_secret=server.webhook_secret, api_base=server.base_url
    )


def _start(provider: StripeProvider, key: str = "k1") -> str:
    started = provider.start_checkout(
        amount_minor=2500,
        currency="EUR",
        description="Haircut",
        metadata={"booking_id": "b1", "payment_id": "p1"},
        success_url="http://shop.example/paid",
        cancel_url="http://shop.example/cancelled",
        idempotency_key=key,
    )
    return started.provider_ref


def test_only_the_stripe_provider_offers_a_hosted_checkout(server: FakeStripe) -> None:
    assert isinstance(_provider(server), HostedCheckout)
    assert not isinstance(SimulatedProvider(session=None, secret="s"), HostedCheckout)  # type: ignore[arg-type]


def test_a_paid_checkout_settles_its_payment_under_the_payment_intent(server: FakeStripe) -> None:
    provider = _provider(server)
    ref = _start(provider)
    body, headers = server.complete_checkout(ref)
    event = provider.parse_webhook(body=body, headers=headers)
    assert event.kind == "payment.succeeded"
    assert event.provider_ref == ref
    assert event.settled_ref == server.checkouts[ref]["payment_intent"]
    # ... and once paid, it can no longer be abandoned (paying again must not open another).
    assert provider.abandon_checkout(provider_ref=ref) is False


def test_an_unpaid_checkout_is_abandoned_and_its_expiry_is_a_failure(server: FakeStripe) -> None:
    provider = _provider(server)
    ref = _start(provider)
    assert provider.abandon_checkout(provider_ref=ref) is True
    assert server.checkouts[ref]["status"] == "expired"
    body, headers = server.sign("checkout.session.expired", server.checkouts[ref])
    event = provider.parse_webhook(body=body, headers=headers)
    assert event.kind == "payment.failed"
    assert event.failure_reason == "checkout_expired"
    assert event.settled_ref is None
