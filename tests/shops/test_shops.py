"""Shops, providers, services, hours and time off: owners change their own, nobody else's."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.booking.world import make_shop, register


def _shop_body(**overrides: object) -> dict[str, object]:
    body: dict[str, object] = {
        "name": "Cuts",
        "latitude": 52.5,
        "longitude": 13.4,
        "timezone": "Europe/Berlin",
        "currency": "EUR",
    }
    body.update(overrides)
    return body


def test_an_owner_sets_up_a_shop_that_anyone_can_read(client: TestClient) -> None:
    shop = make_shop(client)
    public = client.get(f"/api/v1/shops/{shop.id}")
    assert public.status_code == 200
    assert public.json()["timezone"] == "Europe/Berlin"
    services = client.get(f"/api/v1/shops/{shop.id}/services").json()
    assert services[0]["price_minor"] == 2500
    assert services[0]["currency"] == "EUR"
    providers = client.get(f"/api/v1/shops/{shop.id}/providers").json()
    assert providers[0]["service_ids"] == [shop.service_id]
    hours = client.get(f"/api/v1/providers/{shop.provider_id}/hours").json()
    assert len(hours["days"]) == 7


def test_a_client_cannot_create_a_shop(client: TestClient) -> None:
    alice = register(client)
    response = client.post("/api/v1/shops", headers=alice.headers, json=_shop_body())
    assert response.status_code == 403


def test_bad_shop_input_is_422_naming_the_field(client: TestClient) -> None:
    owner = register(client, "owner")
    cases = {
        "timezone": _shop_body(timezone="Mars/Olympus"),
        "latitude": _shop_body(latitude=123),
        "currency": _shop_body(currency="euro"),
        "late_cancel_fee_minor": _shop_body(late_cancel_fee_minor=-5),
    }
    for field, body in cases.items():
        response = client.post("/api/v1/shops", headers=owner.headers, json=body)
        assert response.status_code == 422, field
        assert response.json()["errors"][0]["field"] == field
    assert client.get("/api/v1/shops", headers=owner.headers).json() == []


def test_a_negative_price_and_hours_ending_before_they_start_are_refused(
    client: TestClient,
) -> None:
    shop = make_shop(client)
    price = client.post(
        f"/api/v1/shops/{shop.id}/services",
        headers=shop.owner.headers,
        json={"name": "Free money", "duration_minutes": 30, "price_minor": -100},
    )
    assert price.status_code == 422
    assert price.json()["errors"][0]["field"] == "price_minor"
    hours = client.put(
        f"/api/v1/providers/{shop.provider_id}/hours",
        headers=shop.owner.headers,
        json={"days": [{"weekday": 0, "start": "17:00", "end": "09:00"}]},
    )
    assert hours.status_code == 422
    assert "after start" in hours.json()["detail"]
    still = client.get(f"/api/v1/providers/{shop.provider_id}/hours").json()
    assert len(still["days"]) == 7


def test_another_owner_sees_404_for_every_change_to_a_shop_not_theirs(client: TestClient) -> None:
    shop = make_shop(client)
    rival = register(client, "owner")
    attempts = [
        client.patch(f"/api/v1/shops/{shop.id}", headers=rival.headers, json={"name": "Mine"}),
        client.post(
            f"/api/v1/shops/{shop.id}/providers", headers=rival.headers, json={"name": "Spy"}
        ),
        client.post(
            f"/api/v1/shops/{shop.id}/services",
            headers=rival.headers,
            json={"name": "x", "duration_minutes": 30, "price_minor": 1},
        ),
        client.put(
            f"/api/v1/providers/{shop.provider_id}/hours", headers=rival.headers, json={"days": []}
        ),
        client.post(
            f"/api/v1/providers/{shop.provider_id}/time-off",
            headers=rival.headers,
            json={"starts_at": "2030-01-01T00:00:00Z", "ends_at": "2030-01-02T00:00:00Z"},
        ),
    ]
    assert [a.status_code for a in attempts] == [404] * len(attempts)
    assert client.get(f"/api/v1/shops/{shop.id}").json()["name"] == "Test Cuts"


def test_a_provider_account_manages_its_own_time_off(client: TestClient) -> None:
    shop = make_shop(client)
    staff = register(client, "provider")
    provider = client.post(
        f"/api/v1/shops/{shop.id}/providers",
        headers=shop.owner.headers,
        json={"name": "Sam", "user_email": staff.email, "service_ids": [shop.service_id]},
    )
    assert provider.status_code == 201
    pid = provider.json()["id"]
    entry = client.post(
        f"/api/v1/providers/{pid}/time-off",
        headers=staff.headers,
        json={
            "starts_at": "2030-01-01T00:00:00Z",
            "ends_at": "2030-01-08T00:00:00Z",
            "reason": "ski",
        },
    )
    assert entry.status_code == 201
    listed = client.get(f"/api/v1/providers/{pid}/time-off", headers=shop.owner.headers).json()
    assert [e["reason"] for e in listed] == ["ski"]
    gone = client.delete(
        f"/api/v1/providers/{pid}/time-off/{entry.json()['id']}", headers=staff.headers
    )
    assert gone.status_code == 204


def test_time_off_ending_before_it_starts_is_refused(client: TestClient) -> None:
    shop = make_shop(client)
    response = client.post(
        f"/api/v1/providers/{shop.provider_id}/time-off",
        headers=shop.owner.headers,
        json={"starts_at": "2030-01-02T00:00:00Z", "ends_at": "2030-01-01T00:00:00Z"},
    )
    assert response.status_code == 422
