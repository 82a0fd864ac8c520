"""A client downloads their data and deletes their account through the API."""

from __future__ import annotations

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from chairside.privacy import service
from tests.booking.world import PASSWORD, register, sql
from tests.privacy.conftest import World


def test_my_data_holds_my_bookings_payments_and_reviews_and_nothing_of_anyone_else(
    client: TestClient, world: World
) -> None:
    response = client.get("/api/v1/me/data", headers=world.alice.headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-disposition"].startswith("attachment; filename=")
    data = response.json()
    assert data["account"]["email"] == world.alice.email
    [booking] = data["bookings"]
    assert booking["id"] == world.alice_booking["id"]
    assert booking["status"] == "completed"
    assert booking["note"] == "Alice here, left-handed, call 0170 555"
    assert booking["service"]["name"] == "Haircut"
    [payment] = booking["payments"]
    assert payment["status"] == "succeeded" and payment["amount_minor"] == 2500
    assert payment["card_last4"] == "4242"
    [review] = data["reviews"]
    assert review["rating"] == 5 and review["text"] == "Alice says: sharp fade"
    actions = {entry["action"] for entry in data["audit"]}
    assert {"account.registered", "booking.created", "review.created"} <= actions
    assert data["sessions"] and not data["sessions"][0]["ended"]
    text = response.text
    assert world.bob.email not in text and world.bob_booking["id"] not in text
    assert world.bob.id not in text
    assert "password" not in text and "$argon2" not in text


def test_deleting_my_account_needs_my_password_and_leaves_nothing_to_log_in_with(
    client: TestClient, world: World, database_url: str
) -> None:
    alice = world.alice
    audit_rows = sql(database_url, "SELECT count(*) FROM audit_log")[0][0]
    shop_view = f"/api/v1/bookings/{world.alice_booking['id']}"
    before = client.get(shop_view, headers=world.shop.owner.headers).json()
    wrong = client.post("/api/v1/me/delete", headers=alice.headers, json={"password": "guess"})
    assert wrong.status_code == 403
    assert "password" in wrong.json()["detail"]
    missing = client.post("/api/v1/me/delete", headers=alice.headers, json={})
    assert missing.status_code == 422
    assert client.get("/api/v1/me", headers=alice.headers).status_code == 200  # nothing changed

    deleted = client.post("/api/v1/me/delete", headers=alice.headers, json={"password": PASSWORD})
    assert deleted.status_code == 200, deleted.text
    assert deleted.json()["bookings_kept"] == 1

    assert client.get("/api/v1/me", headers=alice.headers).status_code == 401
    assert client.get("/api/v1/me/data", headers=alice.headers).status_code == 401
    refreshed = client.post("/api/v1/auth/refresh", json={"refresh_token": alice.refresh_token})
    assert refreshed.status_code == 401
    login = client.post("/api/v1/auth/login", json={"email": alice.email, "password": PASSWORD})
    assert login.status_code == 401

    # The shop still has the booking, its times, service, price and payment; not who.
    seen = client.get(shop_view, headers=world.shop.owner.headers)
    assert seen.status_code == 200
    booking = seen.json()
    for kept in ("starts_at", "ends_at", "service_id", "price_minor", "status", "client_id"):
        assert booking[kept] == before[kept]
    assert before["note"] and booking["note"] == ""
    assert booking["payments"][0]["amount_minor"] == 2500
    assert booking["payments"][0]["card_last4"] is None
    [(email, name, hash_)] = sql(
        database_url,
        "SELECT email, full_name, password_hash FROM users WHERE id = %(id)s",
        {"id": alice.id},
    )
    assert email == f"anonymised-{alice.id}@invalid" and name == "Anonymised"
    assert "argon2" not in hash_
    assert sql(database_url, "SELECT rating, text FROM reviews") == [(5, "")]

    # The audit trail keeps every row (one more: the anonymisation), none names her.
    assert sql(database_url, "SELECT count(*) FROM audit_log")[0][0] == audit_rows + 1
    assert sql(
        database_url,
        "SELECT count(*) FROM audit_log WHERE coalesce(before::text, '') ILIKE %(e)s"
        " OR coalesce(after::text, '') ILIKE %(e)s",
        {"e": f"%{alice.email}%"},
    ) == [(0,)]
    [(after,)] = sql(
        database_url,
        "SELECT after FROM audit_log WHERE action = 'account.registered' AND entity_id = %(id)s",
        {"id": alice.id},
    )
    assert after["email"] == "[redacted]" and after["role"] == "client"

    # An owner who still owns a shop is refused, and nothing changes.
    owner = world.shop.owner
    refused = client.post("/api/v1/me/delete", headers=owner.headers, json={"password": PASSWORD})
    assert refused.status_code == 409
    assert "owns 1 shop" in refused.json()["detail"]
    assert client.get("/api/v1/me", headers=owner.headers).status_code == 200

    # Twice is fine; the address may register again, as a new account.
    engine = create_engine(database_url)
    with Session(engine) as session, session.begin():
        again = service.anonymise_client(
            session=session, user_id=world.alice_booking["client_id"], actor=None, by="test"
        )
    engine.dispose()
    assert again.already_anonymised
    assert register(client, email=alice.email).id != alice.id


def test_the_audit_log_accepts_a_redaction_and_refuses_any_other_rewrite(
    database_url: str,
) -> None:
    sql(
        database_url,
        "INSERT INTO audit_log (action, entity, entity_id, after) VALUES ('account.registered',"
        ' \'user\', \'1\', \'{"email": "a@example.com", "role": "client"}\')',
    )
    conninfo = database_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("SET chairside.audit_redact = 'personal-data'")
        for statement in (
            "UPDATE audit_log SET action = 'edited'",
            'UPDATE audit_log SET after = after || \'{"email": "someone@else"}\'',
            "UPDATE audit_log SET after = after - 'email'",
            "DELETE FROM audit_log",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement.encode())
        conn.execute(b'UPDATE audit_log SET after = after || \'{"email": "[redacted]"}\'')
        conn.execute("RESET chairside.audit_redact")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(b'UPDATE audit_log SET after = after || \'{"role": "[redacted]"}\'')
    assert sql(database_url, "SELECT after FROM audit_log") == [
        ({"email": "[redacted]", "role": "client"},)
    ]
