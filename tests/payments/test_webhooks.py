"""Simulated payments end to end: declines, webhooks (duplicate, out of order, late), refunds."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
from fastapi.testclient import TestClient

from chairside.config import Settings
from chairside.payments import registry, simulated
from tests.booking.live import live_server
from tests.booking.world import (
    Account,
    Shop,
    book,
    expire_hold,
    future_day,
    local,
    make_shop,
    pay,
    register,
    sql,
)


def _outbox(database_url: str, kind: str) -> str:
    rows = sql(
        database_url,
        "SELECT body FROM simulated_webhook_outbox ORDER BY id",
    )
    return next(body for (body,) in rows if json.loads(body)["type"] == kind)


def _deliver(client: TestClient, settings: Settings, body: str) -> Any:
    secret = registry.simulated_secret(settings)
    return client.post(
        "/api/v1/webhooks/simulated",
        content=body.encode(),
        headers={"chairside-signature": simulated.sign(body, secret)},
    )


def _pending_booking(
    client: TestClient, card: str = simulated.CARD_SUCCEEDS_LATER
) -> tuple[Shop, Account, dict[str, Any]]:
    shop = make_shop(client)
    alice = register(client)
    booking = book(client, alice, shop, local(future_day(), "10:00")).json()
    response = pay(client, alice, booking["id"], card)
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "pending_payment"
    return shop, alice, booking


def test_a_declined_card_is_402_recorded_and_the_booking_can_still_be_paid(
    client: TestClient, database_url: str
) -> None:
    shop = make_shop(client)
    alice = register(client)
    booking = book(client, alice, shop, local(future_day(), "10:00")).json()
    declined = pay(client, alice, booking["id"], simulated.CARD_DECLINED)
    assert declined.status_code == 402
    assert "card_declined" in declined.json()["detail"]
    assert sql(database_url, "SELECT status, failure_reason FROM payments") == [
        ("failed", "card_declined")
    ]
    paid = pay(client, alice, booking["id"], simulated.CARD_SUCCEEDS)
    assert paid.json()["status"] == "confirmed"


def test_an_unknown_card_number_is_422_listing_the_test_cards(client: TestClient) -> None:
    shop = make_shop(client)
    alice = register(client)
    booking = book(client, alice, shop, local(future_day(), "10:00")).json()
    response = pay(client, alice, booking["id"], "5555555555554444")
    assert response.status_code == 422
    assert simulated.CARD_SUCCEEDS in response.json()["detail"]


def test_a_duplicate_webhook_is_acknowledged_and_changes_nothing(
    client: TestClient, booking_settings: Settings, database_url: str
) -> None:
    _, alice, booking = _pending_booking(client)
    body = _outbox(database_url, "payment.succeeded")
    first = _deliver(client, booking_settings, body)
    second = _deliver(client, booking_settings, body)
    assert first.json()["outcome"] == "confirmed"
    assert second.status_code == 200
    assert second.json()["outcome"] == "duplicate"
    confirmations = sql(
        database_url, "SELECT count(*) FROM audit_log WHERE action = 'booking.confirmed'"
    )
    assert confirmations == [(1,)]
    assert sql(database_url, "SELECT count(*) FROM webhook_events") == [(1,)]


def test_a_late_pending_event_never_downgrades_a_settled_payment(
    client: TestClient, booking_settings: Settings, database_url: str
) -> None:
    _, alice, booking = _pending_booking(client)
    assert _deliver(client, booking_settings, _outbox(database_url, "payment.succeeded")).is_success
    late = _deliver(client, booking_settings, _outbox(database_url, "payment.pending"))
    assert late.json()["outcome"].startswith("ignored")
    mine = client.get(f"/api/v1/bookings/{booking['id']}", headers=alice.headers).json()
    assert mine["status"] == "confirmed"
    assert mine["payments"][0]["status"] == "succeeded"


def test_a_payment_failing_later_leaves_the_booking_payable(
    client: TestClient, booking_settings: Settings, database_url: str
) -> None:
    _, alice, booking = _pending_booking(client, simulated.CARD_FAILS_LATER)
    outcome = _deliver(client, booking_settings, _outbox(database_url, "payment.failed"))
    assert outcome.json()["outcome"] == "payment failed"
    assert pay(client, alice, booking["id"]).json()["status"] == "confirmed"


def test_a_late_payment_confirms_when_the_slot_is_still_free(
    client: TestClient, booking_settings: Settings, database_url: str
) -> None:
    _, alice, booking = _pending_booking(client)
    expire_hold(database_url, booking["id"])
    outcome = _deliver(client, booking_settings, _outbox(database_url, "payment.succeeded"))
    assert outcome.json()["outcome"] == "confirmed"
    mine = client.get(f"/api/v1/bookings/{booking['id']}", headers=alice.headers).json()
    assert mine["status"] == "confirmed"


def test_a_late_payment_is_refunded_when_someone_else_took_the_slot(
    client: TestClient, booking_settings: Settings, database_url: str
) -> None:
    shop, alice, booking = _pending_booking(client)
    expire_hold(database_url, booking["id"])
    bob = register(client)
    assert book(client, bob, shop, local(future_day(), "10:15")).status_code == 201
    outcome = _deliver(client, booking_settings, _outbox(database_url, "payment.succeeded"))
    assert outcome.json()["outcome"] == "refunded: slot taken"
    mine = client.get(f"/api/v1/bookings/{booking['id']}", headers=alice.headers).json()
    assert mine["status"] == "expired"
    assert mine["payments"][0]["status"] == "refunded"
    assert mine["payments"][0]["refunded_minor"] == 2500


def test_a_webhook_with_a_bad_signature_is_401_and_not_recorded(
    client: TestClient, database_url: str
) -> None:
    _pending_booking(client)
    body = _outbox(database_url, "payment.succeeded")
    forged = client.post(
        "/api/v1/webhooks/simulated",
        content=body.encode(),
        headers={"chairside-signature": simulated.sign(body, "not-the-secret")},
    )
    assert forged.status_code == 401
    assert sql(database_url, "SELECT count(*) FROM webhook_events") == [(0,)]
    assert sql(database_url, "SELECT status FROM bookings") == [("pending_payment",)]


def test_an_owner_grants_partial_refunds_up_to_what_was_paid(
    client: TestClient, database_url: str
) -> None:
    shop = make_shop(client)
    alice = register(client)
    booking = book(client, alice, shop, local(future_day(), "10:00")).json()
    payment_id = pay(client, alice, booking["id"]).json()["payments"][0]["id"]
    url = f"/api/v1/payments/{payment_id}/refunds"
    assert client.post(url, headers=alice.headers, json={"amount_minor": 100}).status_code == 404
    first = client.post(url, headers=shop.owner.headers, json={"amount_minor": 1000, "reason": "x"})
    assert first.status_code == 201
    too_much = client.post(url, headers=shop.owner.headers, json={"amount_minor": 2000})
    assert too_much.status_code == 422
    assert "1500" in too_much.json()["detail"]
    assert sql(database_url, "SELECT status, refunded_minor FROM payments") == [
        ("partially_refunded", 1000)
    ]


def test_the_simulated_provider_delivers_its_webhook_to_the_running_app(
    booking_settings: Settings,
) -> None:
    settings = booking_settings.model_copy(
        update={"simulated_webhook_delivery": "http", "simulated_webhook_delay_seconds": 0.2}
    )
    with live_server(settings) as base_url, httpx.Client(base_url=base_url, timeout=10) as http:
        client: Any = http
        shop = make_shop(client)
        alice = register(client)
        booking = book(client, alice, shop, local(future_day(), "10:00")).json()
        assert pay(client, alice, booking["id"], simulated.CARD_SUCCEEDS_LATER).status_code == 202
        deadline = time.monotonic() + 10
        status = "pending_payment"
        while status != "confirmed" and time.monotonic() < deadline:
            time.sleep(0.1)
            status = http.get(f"/api/v1/bookings/{booking['id']}", headers=alice.headers).json()[
                "status"
            ]
    assert status == "confirmed"


def test_two_simultaneous_payments_charge_the_card_once(
    booking_settings: Settings, database_url: str
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from pydantic import SecretStr

    from tests.payments.fake_stripe import PM_SUCCEEDS, fake_stripe

    with fake_stripe() as stripe_server:
        settings = booking_settings.model_copy(
            update={
                "payment_provider": "stripe",
                "stripe_api_key": SecretStr("sk_test_" + "k" * 24),
                "stripe_webhook_secret": SecretStr(stripe_server.webhook_secret),
                "stripe_api_base": stripe_server.base_url,
            }
        )
        with live_server(settings) as base_url, httpx.Client(base_url=base_url) as http:
            client: Any = http
            shop = make_shop(client)
            alice = register(client)
            booking = book(client, alice, shop, local(future_day(), "10:00")).json()

            def attempt(_: int) -> int:
                with httpx.Client(base_url=base_url, timeout=20) as own:
                    response = own.post(
                        f"/api/v1/bookings/{booking['id']}/pay",
                        headers=alice.headers,
                        json={"payment_method": PM_SUCCEEDS},
                    )
                return response.status_code

            with ThreadPoolExecutor(max_workers=4) as pool:
                statuses = sorted(pool.map(attempt, range(4)))
        charges = [r for r in stripe_server.requests if r["path"] == "/v1/payment_intents"]
    assert statuses == [200, 409, 409, 409]
    assert len(charges) == 1
    assert sql(database_url, "SELECT count(*) FROM payments") == [(1,)]


def test_a_payment_settling_after_the_client_cancelled_is_refunded(
    client: TestClient, booking_settings: Settings, database_url: str
) -> None:
    _, alice, booking = _pending_booking(client)
    cancelled = client.post(f"/api/v1/bookings/{booking['id']}/cancel", headers=alice.headers)
    assert cancelled.json()["status"] == "cancelled"
    outcome = _deliver(client, booking_settings, _outbox(database_url, "payment.succeeded"))
    assert outcome.json()["outcome"] == "refunded: booking cancelled"
    assert sql(database_url, "SELECT status, refunded_minor FROM payments") == [("refunded", 2500)]
