"""The whole client journey: register, search, availability, book, pay, cancel, refund."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.booking.world import book, future_day, local, make_shop, pay, register


def test_a_client_books_pays_and_cancels_with_a_refund(client: TestClient) -> None:
    shop = make_shop(client)
    alice = register(client)
    day = future_day(7)
    found = client.get(
        "/api/v1/search/providers",
        params={"service": "haircut", "lat": 52.5, "lon": 13.4, "radius_km": 10},
    )
    assert found.status_code == 200, found.text
    assert [hit["provider_id"] for hit in found.json()] == [shop.provider_id]
    slots = client.get(
        f"/api/v1/providers/{shop.provider_id}/availability",
        params={"service_id": shop.service_id, "from": day.isoformat(), "to": day.isoformat()},
    )
    assert slots.status_code == 200, slots.text
    first = slots.json()["slots"][0]
    assert first == local(day, "09:00").isoformat()
    created = book(client, alice, shop, local(day, "09:00"))
    assert created.status_code == 201, created.text
    booking = created.json()
    assert booking["status"] == "pending_payment"
    paid = pay(client, alice, booking["id"])
    assert paid.status_code == 200, paid.text
    assert paid.json()["status"] == "confirmed"
    cancelled = client.post(f"/api/v1/bookings/{booking['id']}/cancel", headers=alice.headers)
    assert cancelled.status_code == 200, cancelled.text
    body = cancelled.json()
    assert body["status"] == "cancelled"
    assert body["payments"][0]["status"] == "refunded"
    assert body["payments"][0]["refunded_minor"] == 2500
