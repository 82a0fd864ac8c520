"""The audit log: a row per state change, in the same transaction, readable by admins."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.booking.world import (
    PASSWORD,
    Account,
    book,
    future_day,
    local,
    make_shop,
    pay,
    register,
    sql,
)


def _admin(client: TestClient, database_url: str) -> Account:
    account = register(client, "client")
    sql(database_url, "UPDATE users SET role = 'admin' WHERE id = %(id)s", {"id": account.id})
    tokens = client.post("/api/v1/auth/login", json={"email": account.email, "password": PASSWORD})
    account.token = tokens.json()["access_token"]
    return account


def test_a_booking_lifecycle_leaves_who_what_before_after_and_the_request_id(
    client: TestClient, database_url: str
) -> None:
    shop = make_shop(client)
    alice = register(client)
    created = client.post(
        "/api/v1/bookings",
        headers={**alice.headers, "X-Request-ID": "req-create-1"},
        json={
            "provider_id": shop.provider_id,
            "service_id": shop.service_id,
            "starts_at": local(future_day(), "10:00").isoformat(),
        },
    ).json()
    pay(client, alice, created["id"])
    client.post(
        f"/api/v1/bookings/{created['id']}/cancel",
        headers={**alice.headers, "X-Request-ID": "req-cancel-1"},
    )
    admin = _admin(client, database_url)
    rows = client.get(
        "/api/v1/admin/audit",
        headers=admin.headers,
        params={"entity": "booking", "entity_id": created["id"]},
    ).json()
    actions = [r["action"] for r in reversed(rows)]
    assert actions == ["booking.created", "booking.confirmed", "booking.cancelled"]
    first, _, cancel = reversed(rows)
    assert first["actor_id"] == alice.id
    assert first["request_id"] == "req-create-1"
    assert first["after"]["status"] == "pending_payment"
    assert cancel["before"]["status"] == "confirmed"
    assert cancel["after"]["status"] == "cancelled"
    assert cancel["request_id"] == "req-cancel-1"
    payment_rows = client.get(
        "/api/v1/admin/audit", headers=admin.headers, params={"entity": "payment"}
    ).json()
    assert {r["action"] for r in payment_rows} == {"payment.succeeded", "payment.refunded"}


def test_a_rejected_request_changes_nothing_and_writes_no_audit_row(
    client: TestClient, database_url: str
) -> None:
    shop = make_shop(client)
    alice, bob = register(client), register(client)
    start = local(future_day(), "10:00")
    assert book(client, alice, shop, start).status_code == 201
    before = sql(database_url, "SELECT count(*) FROM audit_log")
    assert book(client, bob, shop, start).status_code == 409
    assert book(client, bob, shop, local(future_day(), "23:00")).status_code == 422
    assert sql(database_url, "SELECT count(*) FROM audit_log") == before
    assert sql(database_url, "SELECT count(*) FROM bookings") == [(1,)]


def test_only_admins_read_the_audit_log(client: TestClient) -> None:
    owner = register(client, "owner")
    response = client.get("/api/v1/admin/audit", headers=owner.headers)
    assert response.status_code == 403
    assert client.get("/api/v1/admin/audit").status_code == 401


def test_account_and_shop_changes_are_audited(client: TestClient, database_url: str) -> None:
    shop = make_shop(client)
    client.patch(f"/api/v1/shops/{shop.id}", headers=shop.owner.headers, json={"name": "New name"})
    admin = _admin(client, database_url)
    rows = client.get(
        "/api/v1/admin/audit",
        headers=admin.headers,
        params={"entity": "shop", "entity_id": shop.id},
    ).json()
    update = next(r for r in rows if r["action"] == "shop.updated")
    assert update["before"]["name"] == "Test Cuts"
    assert update["after"]["name"] == "New name"
    assert update["actor_id"] == shop.owner.id
    registered = client.get(
        "/api/v1/admin/audit",
        headers=admin.headers,
        params={"entity": "user", "entity_id": shop.owner.id},
    ).json()
    assert [r["action"] for r in registered] == ["account.registered"]
