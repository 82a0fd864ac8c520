"""Bookings over HTTP: holds, idempotency, conflicts, transitions, cancellation, tenants."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import redis
from fastapi.testclient import TestClient

from chairside.accounts import tokens
from chairside.api.app import create_app
from chairside.booking import holds
from chairside.config import Settings
from chairside.db import make_engine, make_session_factory, transaction
from tests.booking.world import (
    book,
    expire_hold,
    future_day,
    local,
    make_shop,
    pay,
    register,
    shift_booking,
    sql,
)


def test_a_new_booking_holds_its_slot_for_the_configured_minutes(client: TestClient) -> None:
    shop = make_shop(client)
    alice = register(client)
    response = book(client, alice, shop, local(future_day(), "10:00"))
    assert response.status_code == 201
    body = response.json()
    held = datetime.fromisoformat(body["hold_expires_at"]) - datetime.now(UTC)
    assert timedelta(minutes=14) < held <= timedelta(minutes=15)
    assert body["starts_at"].endswith(("+01:00", "+02:00"))
    assert body["timezone"] == "Europe/Berlin"


def test_an_idempotent_replay_returns_the_same_booking(client: TestClient) -> None:
    shop = make_shop(client)
    alice = register(client)
    start = local(future_day(), "10:00")
    first = book(client, alice, shop, start, key="k-1")
    again = book(client, alice, shop, start, key="k-1")
    assert first.status_code == 201
    assert again.status_code == 200
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    assert len(client.get("/api/v1/bookings", headers=alice.headers).json()) == 1


def test_an_unknown_provider_with_a_fresh_idempotency_key_is_404_and_keeps_no_key(
    client: TestClient, database_url: str
) -> None:
    shop = make_shop(client)
    alice = register(client)
    ghost = replace(shop, provider_id=str(uuid.uuid4()))
    response = book(client, alice, ghost, local(future_day(), "10:00"), key="k-ghost")
    assert response.status_code == 404, response.text
    assert sql(database_url, "SELECT count(*) FROM idempotency_keys WHERE key = 'k-ghost'") == [
        (0,)
    ]
    # The key was not used up: the corrected request books with it.
    assert book(client, alice, shop, local(future_day(), "10:00"), key="k-ghost").status_code == 201


def test_a_replay_answers_the_same_after_the_provider_stopped_offering_the_service(
    client: TestClient, database_url: str
) -> None:
    shop = make_shop(client)
    alice = register(client)
    start = local(future_day(), "10:00")
    first = book(client, alice, shop, start, key="k-3")
    assert first.status_code == 201
    sql(
        database_url,
        "DELETE FROM provider_services WHERE provider_id = %(p)s",
        {"p": shop.provider_id},
    )
    again = book(client, alice, shop, start, key="k-3")
    assert again.status_code == 200, again.text
    assert again.json()["id"] == first.json()["id"]
    assert book(client, alice, shop, start, key="k-4").status_code == 422  # a new request


def test_the_same_idempotency_key_with_another_body_is_422(client: TestClient) -> None:
    shop = make_shop(client)
    alice = register(client)
    day = future_day()
    assert book(client, alice, shop, local(day, "10:00"), key="k-2").status_code == 201
    other = book(client, alice, shop, local(day, "11:00"), key="k-2")
    assert other.status_code == 422
    assert other.json()["errors"][0]["field"] == "Idempotency-Key"
    assert len(client.get("/api/v1/bookings", headers=alice.headers).json()) == 1


def test_an_overlapping_booking_is_409_with_the_conflicting_interval(client: TestClient) -> None:
    shop = make_shop(client, buffer_after=10)
    alice, bob = register(client), register(client)
    day = future_day()
    assert book(client, alice, shop, local(day, "10:00")).status_code == 201
    clash = book(client, bob, shop, local(day, "10:30"))  # inside alice's after-buffer
    assert clash.status_code == 409
    interval = clash.json()["details"]["conflicting_interval"]
    assert datetime.fromisoformat(interval["starts_at"]) == local(day, "10:00")
    assert datetime.fromisoformat(interval["ends_at"]) == local(day, "10:40")
    assert book(client, bob, shop, local(day, "10:45")).status_code == 201


def test_the_conflicting_interval_is_shown_in_the_shops_time_zone(client: TestClient) -> None:
    shop = make_shop(client, timezone="America/New_York")
    alice, bob = register(client), register(client)
    day = future_day()
    ten = local(day, "10:00", "America/New_York")
    assert book(client, alice, shop, ten).status_code == 201
    clash = book(client, bob, shop, ten)
    assert clash.status_code == 409
    interval = clash.json()["details"]["conflicting_interval"]
    # Wall time and offset of New York, as docs/booking.md promises, not UTC.
    assert interval["starts_at"] == ten.isoformat()
    assert interval["starts_at"].endswith(("-05:00", "-04:00"))
    assert interval["timezone"] == "America/New_York"


def test_idempotent_replays_do_not_count_against_the_booking_limit(
    booking_settings: Settings,
) -> None:
    limited = booking_settings.model_copy(update={"rate_limit_bookings": 2})
    with TestClient(create_app(limited)) as client:
        shop = make_shop(client)
        alice = register(client)
        day = future_day()
        first = book(client, alice, shop, local(day, "10:00"), key="retry-me")
        assert first.status_code == 201

        def retry() -> None:
            again = book(client, alice, shop, local(day, "10:00"), key="retry-me")
            assert again.status_code == 200, again.text
            assert again.json()["id"] == first.json()["id"]

        # A client retrying its own request (a flaky network) gets its booking each time,
        for _ in range(3):
            retry()
        # and the retries took none of the limit: one more new booking fits,
        assert book(client, alice, shop, local(day, "11:00")).status_code == 201
        # a retry still works with the limit used up,
        retry()
        # and a new booking past the limit does not.
        assert book(client, alice, shop, local(day, "12:00")).status_code == 429


def test_a_booking_in_the_past_too_soon_or_outside_hours_is_422(client: TestClient) -> None:
    shop = make_shop(client, min_notice=120)
    alice = register(client)
    now = datetime.now(UTC)
    cases = {
        "in the past": now - timedelta(hours=1),
        "too soon": now + timedelta(minutes=30),
        "outside": local(future_day(), "20:00"),
    }
    for expected, start in cases.items():
        response = book(client, alice, shop, start)
        assert response.status_code == 422, expected
        assert expected in response.json()["detail"]
    assert client.get("/api/v1/bookings", headers=alice.headers).json() == []


def test_an_expired_hold_frees_the_slot_for_the_next_client(
    client: TestClient, database_url: str
) -> None:
    shop = make_shop(client)
    alice, bob = register(client), register(client)
    start = local(future_day(), "10:00")
    held = book(client, alice, shop, start).json()
    assert book(client, bob, shop, start).status_code == 409
    expire_hold(database_url, held["id"])
    taken = book(client, bob, shop, start)
    assert taken.status_code == 201
    assert client.get(f"/api/v1/bookings/{held['id']}", headers=alice.headers).json()["status"] == (
        "expired"
    )
    late = pay(client, alice, held["id"])
    assert late.status_code == 409
    assert "expired" in late.json()["detail"]


def test_the_sweep_expires_run_out_holds(
    client: TestClient, database_url: str, booking_settings: Settings
) -> None:
    shop = make_shop(client)
    alice = register(client)
    held = book(client, alice, shop, local(future_day(), "10:00")).json()
    kept = book(client, alice, shop, local(future_day(), "12:00")).json()
    expire_hold(database_url, held["id"])
    engine = make_engine(database_url, pool_size=1)
    try:
        with transaction(make_session_factory(engine)) as session:
            assert holds.expire_stale_holds(session=session) == 1
    finally:
        engine.dispose()
    statuses = dict(sql(database_url, "SELECT id::text, status FROM bookings"))
    assert statuses == {held["id"]: "expired", kept["id"]: "pending_payment"}


def test_creation_takes_exactly_the_starts_availability_offers_on_a_dst_day(
    client: TestClient,
) -> None:
    # Creation reads hours, breaks and time off in its own statement; availability reads
    # them in another. On Berlin's spring-forward day (02:00-03:00 does not exist), with a
    # break and a time off that began the evening before, every start availability offers
    # must be bookable (or taken by the booking just made) and every other one refused.
    day = date(2027, 3, 28)
    hours = [
        {
            "weekday": day.weekday(),
            "start": "00:00",
            "end": "05:00",
            "breaks": [{"start": "03:30", "end": "04:00"}],
        }
    ]
    shop = make_shop(client, duration=30, hours=hours)
    off = client.post(
        f"/api/v1/providers/{shop.provider_id}/time-off",
        headers=shop.owner.headers,
        json={
            "starts_at": local(day - timedelta(days=1), "23:00").isoformat(),
            "ends_at": local(day, "01:00").isoformat(),
        },
    )
    assert off.status_code == 201, off.text
    offered = client.get(
        f"/api/v1/providers/{shop.provider_id}/availability",
        params={"service_id": shop.service_id, "from": str(day), "to": str(day)},
    ).json()["slots"]
    offered_instants = {datetime.fromisoformat(slot).astimezone(UTC) for slot in offered}
    # 01:00-03:30 is 90 minutes that day, less the last 30; then 04:00-05:00.
    assert sorted(slot[11:16] for slot in offered) == [
        "01:00",
        "01:15",
        "01:30",
        "01:45",
        "03:00",
        "04:00",
        "04:15",
        "04:30",
    ]
    alice = register(client)
    start = local(day, "00:00").astimezone(UTC) - timedelta(hours=1)  # steps in real time
    outcomes: dict[int, list[datetime]] = {}
    while start < local(day, "06:00"):
        status = book(client, alice, shop, start).status_code
        outcomes.setdefault(status, []).append(start)
        if start in offered_instants:
            assert status in (201, 409), (start, status)
        else:
            assert status == 422, (start, status)
        start += timedelta(minutes=15)
    booked = [
        start.astimezone(ZoneInfo("Europe/Berlin")).strftime("%H:%M") for start in outcomes[201]
    ]
    assert booked == ["01:00", "01:30", "03:00", "04:00", "04:30"]


def test_illegal_transitions_are_409_naming_the_current_status(client: TestClient) -> None:
    shop = make_shop(client)
    alice = register(client)
    booking = book(client, alice, shop, local(future_day(), "10:00")).json()
    completed = client.post(
        f"/api/v1/bookings/{booking['id']}/complete", headers=shop.owner.headers
    )
    assert completed.status_code == 409
    assert "pending_payment" in completed.json()["detail"]
    client.post(f"/api/v1/bookings/{booking['id']}/cancel", headers=alice.headers)
    again = client.post(f"/api/v1/bookings/{booking['id']}/cancel", headers=alice.headers)
    assert again.status_code == 409
    assert again.json()["details"]["current_status"] == "cancelled"


def test_cancelling_inside_the_free_window_refunds_everything(client: TestClient) -> None:
    shop = make_shop(client, free_cancel_hours=24, late_fee=1000)
    alice = register(client)
    booking = book(client, alice, shop, local(future_day(5), "10:00")).json()
    assert pay(client, alice, booking["id"]).json()["status"] == "confirmed"
    body = client.post(f"/api/v1/bookings/{booking['id']}/cancel", headers=alice.headers).json()
    assert body["cancellation_fee_minor"] == 0
    assert body["payments"][0]["refunded_minor"] == 2500
    assert body["payments"][0]["status"] == "refunded"


def test_cancelling_late_keeps_the_policy_fee_and_refunds_the_rest(
    client: TestClient, database_url: str
) -> None:
    shop = make_shop(client, free_cancel_hours=24, late_fee=1000)
    alice = register(client)
    start = local(future_day(5), "10:00")
    booking = book(client, alice, shop, start).json()
    pay(client, alice, booking["id"])
    # Five days out becomes two hours out: inside the 24-hour window.
    shift_booking(database_url, booking["id"], datetime.now(UTC) + timedelta(hours=2) - start)
    body = client.post(f"/api/v1/bookings/{booking['id']}/cancel", headers=alice.headers).json()
    assert body["status"] == "cancelled"
    assert body["cancellation_fee_minor"] == 1000
    assert body["payments"][0]["refunded_minor"] == 1500
    assert body["payments"][0]["status"] == "partially_refunded"
    refunds = sql(database_url, "SELECT amount_minor FROM refunds")
    assert refunds == [(1500,)]


def test_the_shop_cancelling_late_refunds_everything(client: TestClient, database_url: str) -> None:
    shop = make_shop(client, free_cancel_hours=24, late_fee=1000)
    alice = register(client)
    start = local(future_day(5), "10:00")
    booking = book(client, alice, shop, start).json()
    pay(client, alice, booking["id"])
    shift_booking(database_url, booking["id"], datetime.now(UTC) + timedelta(hours=2) - start)
    body = client.post(
        f"/api/v1/bookings/{booking['id']}/cancel", headers=shop.owner.headers
    ).json()
    assert body["cancellation_fee_minor"] == 0
    assert body["payments"][0]["refunded_minor"] == 2500


def test_a_booking_is_rescheduled_to_a_free_slot_but_not_onto_a_taken_one(
    client: TestClient,
) -> None:
    shop = make_shop(client)
    alice, bob = register(client), register(client)
    day = future_day()
    mine = book(client, alice, shop, local(day, "10:00")).json()
    book(client, bob, shop, local(day, "12:00"))
    moved = client.post(
        f"/api/v1/bookings/{mine['id']}/reschedule",
        headers=alice.headers,
        json={"starts_at": local(day, "10:15").isoformat()},  # overlaps its own old slot: fine
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["starts_at"] == local(day, "10:15").isoformat()
    taken = client.post(
        f"/api/v1/bookings/{mine['id']}/reschedule",
        headers=alice.headers,
        json={"starts_at": local(day, "12:15").isoformat()},
    )
    assert taken.status_code == 409
    still = client.get(f"/api/v1/bookings/{mine['id']}", headers=alice.headers).json()
    assert still["starts_at"] == local(day, "10:15").isoformat()


def test_staff_complete_or_no_show_a_started_booking_and_the_client_reviews_it(
    client: TestClient, database_url: str
) -> None:
    shop = make_shop(client)
    alice = register(client)
    day = future_day()
    done = book(client, alice, shop, local(day, "10:00")).json()
    missed = book(client, alice, shop, local(day, "12:00")).json()
    for booking in (done, missed):
        pay(client, alice, booking["id"])
        shift_booking(database_url, booking["id"], timedelta(days=-10))
    assert (
        client.post(f"/api/v1/bookings/{done['id']}/complete", headers=alice.headers).status_code
        == 404
    )
    completed = client.post(f"/api/v1/bookings/{done['id']}/complete", headers=shop.owner.headers)
    assert completed.json()["status"] == "completed"
    no_show = client.post(f"/api/v1/bookings/{missed['id']}/no-show", headers=shop.owner.headers)
    assert no_show.json()["status"] == "no_show"
    review = client.post(
        f"/api/v1/bookings/{done['id']}/review",
        headers=alice.headers,
        json={"rating": 5, "text": "Sharp fade"},
    )
    assert review.status_code == 201
    assert (
        client.post(
            f"/api/v1/bookings/{done['id']}/review", headers=alice.headers, json={"rating": 4}
        ).status_code
        == 409
    )
    assert (
        client.post(
            f"/api/v1/bookings/{missed['id']}/review", headers=alice.headers, json={"rating": 1}
        ).status_code
        == 409
    )
    assert (
        client.post(
            f"/api/v1/bookings/{done['id']}/review", headers=alice.headers, json={"rating": 6}
        ).status_code
        == 422
    )
    listed = client.get(f"/api/v1/providers/{shop.provider_id}/reviews").json()
    assert [(r["rating"], r["text"]) for r in listed] == [(5, "Sharp fade")]


def test_a_future_booking_cannot_be_completed_yet(client: TestClient) -> None:
    shop = make_shop(client)
    alice = register(client)
    booking = book(client, alice, shop, local(future_day(), "10:00")).json()
    pay(client, alice, booking["id"])
    response = client.post(f"/api/v1/bookings/{booking['id']}/complete", headers=shop.owner.headers)
    assert response.status_code == 409
    assert "only once it has started" in response.json()["detail"]


def test_other_clients_and_other_shops_get_404_for_a_booking(client: TestClient) -> None:
    shop = make_shop(client)
    alice, mallory = register(client), register(client)
    rival_owner = make_shop(client).owner
    booking = book(client, alice, shop, local(future_day(), "10:00")).json()
    for intruder in (mallory, rival_owner):
        assert (
            client.get(f"/api/v1/bookings/{booking['id']}", headers=intruder.headers).status_code
            == 404
        )
        assert (
            client.post(
                f"/api/v1/bookings/{booking['id']}/cancel", headers=intruder.headers
            ).status_code
            == 404
        )
        assert pay(client, intruder, booking["id"]).status_code == 404
        assert client.get("/api/v1/bookings", headers=intruder.headers).json() == []
    assert [b["id"] for b in client.get("/api/v1/bookings", headers=shop.owner.headers).json()] == [
        booking["id"]
    ]
    assert (
        client.get(f"/api/v1/bookings/{booking['id']}", headers=alice.headers).json()["status"]
        == "pending_payment"
    )


def test_booking_creation_is_rate_limited(booking_settings: Settings) -> None:
    limited = booking_settings.model_copy(update={"rate_limit_bookings": 2})
    with TestClient(create_app(limited)) as client:
        shop = make_shop(client)
        alice = register(client)
        day = future_day()
        statuses = [
            book(client, alice, shop, local(day, t)).status_code
            for t in ("10:00", "11:00", "12:00")
        ]
        assert statuses == [201, 201, 429]


def test_a_revoked_token_is_refused_with_401_even_past_the_booking_limit(
    booking_settings: Settings,
) -> None:
    limited = booking_settings.model_copy(update={"rate_limit_bookings": 1})
    with TestClient(create_app(limited)) as client:
        shop = make_shop(client)
        alice = register(client)
        day = future_day()
        assert book(client, alice, shop, local(day, "10:00")).status_code == 201
        assert book(client, alice, shop, local(day, "11:00")).status_code == 429
        assert client.post("/api/v1/auth/logout", headers=alice.headers).status_code == 204
        refused = book(client, alice, shop, local(day, "12:00"))
        assert refused.status_code == 401, refused.text
        assert "revoked" in refused.json()["detail"]


def _flush_redis(settings: Settings) -> None:
    assert settings.redis_url is not None
    cache = redis.Redis.from_url(settings.redis_url.get_secret_value())
    cache.flushall()
    cache.close()


@pytest.mark.parametrize("refusal", ["logged out", "logged out everywhere", "role changed", "gone"])
def test_a_token_postgresql_refuses_books_nothing_and_keeps_no_idempotency_key(
    client: TestClient, booking_settings: Settings, database_url: str, refusal: str
) -> None:
    # Booking creation judges the caller from its own first statement, which also claims
    # the key: a refused caller must leave neither a booking nor a key behind, and a
    # token whose account is gone must be 401, not a broken foreign key.
    shop = make_shop(client)
    alice = register(client)
    headers = alice.headers
    if refusal == "logged out":
        assert client.post("/api/v1/auth/logout", headers=headers).status_code == 204
        _flush_redis(booking_settings)  # PostgreSQL alone remembers it
    elif refusal == "logged out everywhere":
        assert client.post("/api/v1/auth/logout-all", headers=headers).status_code == 200
    elif refusal == "role changed":
        sql(database_url, "UPDATE users SET role = 'provider' WHERE id = %(u)s", {"u": alice.id})
    else:
        ghost, _ = tokens.issue(
            user_id=uuid.uuid4(), role="client", typ="access", settings=booking_settings
        )
        alice = replace(alice, token=ghost)
    refused = book(client, alice, shop, local(future_day(), "10:00"), key="k-refused")
    assert refused.status_code == 401, refused.text
    assert sql(database_url, "SELECT count(*) FROM idempotency_keys") == [(0,)]
    assert sql(database_url, "SELECT count(*) FROM bookings") == [(0,)]


def test_read_only_mode_refuses_booking_writes_but_serves_reads(booking_settings: Settings) -> None:
    with TestClient(create_app(booking_settings)) as client:
        shop = make_shop(client)
        alice = register(client)
        day = future_day()
        booking = book(client, alice, shop, local(day, "10:00")).json()
    read_only = booking_settings.model_copy(update={"read_only": True})
    with TestClient(create_app(read_only)) as client:
        refused = book(client, alice, shop, local(day, "12:00"))
        assert refused.status_code == 503
        assert "retry-after" in refused.headers
        assert pay(client, alice, booking["id"]).status_code == 503
        assert (
            client.get(f"/api/v1/bookings/{booking['id']}", headers=alice.headers).status_code
            == 200
        )
    with TestClient(create_app(booking_settings)) as client:
        mine = client.get("/api/v1/bookings", headers=alice.headers).json()
        assert [b["status"] for b in mine] == ["pending_payment"]


def test_a_provider_account_sees_and_closes_its_shops_bookings_but_not_other_shops(
    client: TestClient, database_url: str
) -> None:
    shop = make_shop(client)
    other_shop = make_shop(client)
    staff = register(client, "provider")
    linked = client.post(
        f"/api/v1/shops/{shop.id}/providers",
        headers=shop.owner.headers,
        json={"name": "Sam", "user_email": staff.email, "service_ids": [shop.service_id]},
    )
    assert linked.status_code == 201
    alice = register(client)
    day = future_day()
    here = book(client, alice, shop, local(day, "10:00")).json()  # booked with a colleague
    there = book(client, alice, other_shop, local(day, "10:00")).json()
    pay(client, alice, here["id"])
    listed = client.get("/api/v1/bookings", headers=staff.headers).json()
    assert [b["id"] for b in listed] == [here["id"]]
    assert client.get(f"/api/v1/bookings/{there['id']}", headers=staff.headers).status_code == 404
    shift_booking(database_url, here["id"], timedelta(days=-10))
    done = client.post(f"/api/v1/bookings/{here['id']}/complete", headers=staff.headers)
    assert done.json()["status"] == "completed"
