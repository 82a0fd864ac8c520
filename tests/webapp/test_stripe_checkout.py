"""Paying on the web with Stripe: a redirect to Checkout, confirmed only by a signed webhook.

The app is served with ``CHAIRSIDE_PAYMENT_PROVIDER=stripe`` against the local stand-in
for api.stripe.com (tests/payments/fake_stripe.py); no browser is needed: httpx posts
the forms like one, without following the redirect to the (fake) hosted page.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from pydantic import SecretStr

from chairside.api.app import create_app
from chairside.config import Settings
from tests.booking.world import future_day, local
from tests.ops.health.live import serve
from tests.payments.fake_stripe import FakeStripe, fake_stripe
from tests.webapp.browser import WebAccount, api_token, csrf_token_in, new_account, rows
from tests.webapp.client_world import api, logged_in_client, make_shop

CARD = "4242424242424242"
CONFIRMING = "Payment received, confirming"
CONFIRMED = "Paid. Your booking is confirmed."


@dataclass(frozen=True)
class StripeWorld:
    base_url: str
    stripe: FakeStripe
    database_url: str
    account: WebAccount
    booking_id: str


@pytest.fixture
def world(web_settings: Settings) -> Iterator[StripeWorld]:
    with fake_stripe() as stripe:
        settings = web_settings.model_copy(
            update={
                "payment_provider": "stripe",
                "stripe_api_key": SecretStr("sk_test_chairside"),
                "stripe_webhook_secret": SecretStr(stripe.webhook_secret),
                "stripe_api_base": stripe.base_url,
            }
        )
        with serve(create_app(settings)) as base_url:
            shop = make_shop(base_url)
            account = new_account(base_url)
            with api(base_url) as http:
                held = http.post(
                    "/api/v1/bookings",
                    headers=api_token(base_url, account),
                    json={
                        "provider_id": shop.provider_id,
                        "service_id": shop.service_id,
                        "starts_at": local(future_day(4), "10:00").isoformat(),
                    },
                )
                assert held.status_code == 201, held.text
            assert settings.database_url is not None
            yield StripeWorld(
                base_url=base_url,
                stripe=stripe,
                database_url=settings.database_url.get_secret_value(),
                account=account,
                booking_id=held.json()["id"],
            )


def _status(world: StripeWorld) -> str:
    found = rows(world.database_url, f"SELECT status FROM bookings WHERE id = '{world.booking_id}'")
    return str(found[0][0])


def _pay(client: httpx.Client, booking_id: str) -> httpx.Response:
    form = client.get(f"/bookings/{booking_id}/pay")
    assert form.status_code == 200, form.text
    # A card number posted anyway (an old form, a script) must go nowhere.
    return client.post(
        f"/bookings/{booking_id}/pay",
        data={"csrf_token": csrf_token_in(form.text), "payment_method": CARD},
    )


def _webhook(world: StripeWorld, body: bytes, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(
        f"{world.base_url}/api/v1/webhooks/stripe",
        content=body,
        headers={"content-type": "application/json", **headers},
    )


def test_the_pay_button_redirects_to_checkout_and_only_a_signed_webhook_confirms(
    world: StripeWorld,
) -> None:
    booking = world.booking_id
    with logged_in_client(world.base_url, world.account) as client:
        form = client.get(f"/bookings/{booking}/pay")
        assert "Pay with Stripe" in form.text
        assert 'name="payment_method"' not in form.text and "cc-number" not in form.text
        policy = form.headers["content-security-policy"]
        assert f"form-action 'self' {world.stripe.base_url}" in policy

        response = _pay(client, booking)
        assert response.status_code == 303, response.text
        [created] = [r for r in world.stripe.requests if r["path"] == "/v1/checkout/sessions"]
        checkout = next(iter(world.stripe.checkouts.values()))
        assert response.headers["location"] == checkout["url"]
        assert response.headers["location"].startswith(world.stripe.base_url)
        sent = created["form"]
        assert sent["mode"] == "payment"
        assert sent["line_items[0][price_data][unit_amount]"] == "2500"
        assert sent["line_items[0][price_data][currency]"] == "eur"
        [(payment_id, ref)] = rows(world.database_url, "SELECT id, provider_ref FROM payments")
        assert sent["metadata[booking_id]"] == booking
        assert sent["metadata[payment_id]"] == str(payment_id)
        assert ref == checkout["id"]
        assert sent["success_url"].endswith(f"/bookings/{booking}/paid")
        assert sent["cancel_url"].endswith(f"/bookings/{booking}/pay/cancelled")
        assert not any(CARD in str(r) for r in world.stripe.requests)

        # Back from Stripe before its webhook: nothing is confirmed by the return itself.
        back = client.get(f"/bookings/{booking}/paid")
        assert CONFIRMING in back.text and CONFIRMED not in back.text
        assert back.headers["refresh"] == "3"
        assert _status(world) == "pending_payment"

        body, signed = world.stripe.complete_checkout(checkout["id"])
        forged = _webhook(world, body, {})
        assert forged.status_code == 401
        wrong = _webhook(world, body, {"stripe-signature": "t=1,v1=" + "0" * 64})
        assert wrong.status_code == 401
        assert _status(world) == "pending_payment"
        assert CONFIRMING in client.get(f"/bookings/{booking}/paid").text

        delivered = _webhook(world, body, signed)
        assert delivered.status_code == 200, delivered.text
        assert delivered.json()["outcome"] == "confirmed"
        assert _webhook(world, body, signed).json()["outcome"] == "duplicate"
        assert _status(world) == "confirmed"
        done = client.get(f"/bookings/{booking}/paid")
        assert CONFIRMED in done.text and "refresh" not in done.headers
        # The money is Stripe's PaymentIntent from now on (what a refund names).
        intent = world.stripe.checkouts[checkout["id"]]["payment_intent"]
        assert rows(world.database_url, "SELECT status, provider_ref FROM payments") == [
            ("succeeded", intent)
        ]
        # Stripe's own payment_intent.succeeded for the same money changes nothing more.
        late = _webhook(world, *world.stripe.signed_event("payment_intent.succeeded", intent))
        assert late.json()["outcome"] == "ignored: payment already succeeded"


def test_leaving_checkout_keeps_the_hold_and_paying_again_closes_the_first_checkout(
    world: StripeWorld,
) -> None:
    booking = world.booking_id
    with logged_in_client(world.base_url, world.account) as client:
        first = _pay(client, booking)
        assert first.status_code == 303
        left = client.get(f"/bookings/{booking}/pay/cancelled")
        assert "nothing was charged" in left.text and "Try paying again" in left.text
        assert _status(world) == "pending_payment"

        again = _pay(client, booking)
        assert again.status_code == 303
        assert again.headers["location"] != first.headers["location"]
        statuses = [c["status"] for c in world.stripe.checkouts.values()]
        assert statuses == ["expired", "open"]  # the first page can no longer take money
        payments = rows(
            world.database_url, "SELECT status, failure_reason FROM payments ORDER BY created_at"
        )
        assert payments == [("failed", "checkout_abandoned"), ("pending", None)]

        # Paid on Stripe, webhook not here yet: a third attempt must not open another page.
        second = list(world.stripe.checkouts)[1]
        world.stripe.complete_checkout(second)
        third = _pay(client, booking)
        assert third.status_code == 409
        assert "already has a pending payment" in third.text
        assert len(world.stripe.checkouts) == 2
