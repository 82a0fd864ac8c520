"""Cached availability: every change through the app shows at once, time alone ends an entry.

The oracle is the same app with the cache off, on the same database: whatever the cached
app answers must be what a fresh computation answers.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
import redis
from fastapi.testclient import TestClient
from pydantic import SecretStr

from chairside.api.app import create_app
from chairside.booking import availability, availability_cache
from chairside.booking.availability_cache import AvailabilityCache
from chairside.config import Settings
from chairside.db import make_engine, make_session_factory, transaction
from chairside.runtime.ports import free_port
from chairside.shops.models import Shop as ShopRow
from tests.booking.live import live_server
from tests.booking.world import (
    Account,
    Shop,
    book,
    future_day,
    local,
    make_shop,
    pay,
    register,
    sql,
)


@pytest.fixture
def oracle(booking_settings: Settings) -> Iterator[TestClient]:
    """The app with its cache off: the answer a fresh computation gives."""
    uncached = booking_settings.model_copy(update={"availability_cache_seconds": 0})
    with TestClient(create_app(uncached)) as test_client:
        yield test_client


@pytest.fixture
def cache(booking_settings: Settings) -> Iterator[AvailabilityCache]:
    """A second handle on the app's cache, to look inside it."""
    assert booking_settings.redis_url is not None
    client = redis.Redis.from_url(
        booking_settings.redis_url.get_secret_value(), decode_responses=True
    )
    yield AvailabilityCache(client, max_age_seconds=30)
    client.close()


def _get(client: TestClient, shop: Shop, first: date, last: date) -> tuple[int, Any]:
    response = client.get(
        f"/api/v1/providers/{shop.provider_id}/availability",
        params={"service_id": shop.service_id, "from": first.isoformat(), "to": last.isoformat()},
    )
    body = response.json()
    body.pop("request_id", None)  # errors name their request; nothing else may differ
    return response.status_code, body


def _cached(cache: AvailabilityCache, shop: Shop, first: date, last: date) -> str | None:
    query = availability_cache.query_key(uuid.UUID(shop.service_id), first, last)
    return cache.lookup(uuid.UUID(shop.provider_id), query).body


def test_a_repeated_query_is_answered_from_the_cache_and_a_booking_drops_it_at_once(
    client: TestClient, cache: AvailabilityCache, database_url: str
) -> None:
    shop = make_shop(client, duration=30)
    day = future_day(5)
    _, first = _get(client, shop, day, day)
    assert _cached(cache, shop, day, day) is not None
    # A change made around the app (SQL by hand) is not seen while the entry lives...
    sql(
        database_url,
        "UPDATE working_hours SET ends = '10:00' WHERE provider_id = %(p)s",
        {"p": shop.provider_id},
    )
    _, again = _get(client, shop, day, day)
    assert again == first
    # ...a booking made through the app is, at once, by every client.
    slot = first["slots"][0]  # 09:00
    assert book(client, register(client), shop, datetime.fromisoformat(slot)).status_code == 201
    _, after = _get(client, shop, day, day)
    assert after["slots"] == [first["slots"][2]]  # 09:30: the hours end at 10:00 now


def test_metrics_count_hits_and_misses(client: TestClient) -> None:
    shop = make_shop(client, duration=30)
    day = future_day(5)
    for _ in range(3):
        _get(client, shop, day, day)
    exposed = client.get("/metrics").text
    assert 'chairside_availability_cache_lookups_total{result="miss"} 1.0' in exposed
    assert 'chairside_availability_cache_lookups_total{result="hit"} 2.0' in exposed


def test_an_entry_lives_no_longer_than_the_max_age(
    booking_settings: Settings, database_url: str
) -> None:
    short = booking_settings.model_copy(update={"availability_cache_seconds": 1})
    with TestClient(create_app(short)) as client:
        shop = make_shop(client, duration=30)
        day = future_day(5)
        _, before = _get(client, shop, day, day)
        sql(
            database_url,
            "DELETE FROM working_hours WHERE provider_id = %(p)s",
            {"p": shop.provider_id},
        )
        assert _get(client, shop, day, day)[1] == before  # cached
        time.sleep(1.1)
        assert _get(client, shop, day, day)[1]["slots"] == []


def test_a_slot_comes_back_when_its_hold_runs_out_although_nothing_was_written(
    client: TestClient, database_url: str
) -> None:
    shop = make_shop(client, duration=30)
    day = future_day(5)
    start = local(day, "10:00")
    made = book(client, register(client), shop, start)
    assert made.status_code == 201
    # The hold runs out in a moment (the clock would do this after 15 minutes).
    sql(
        database_url,
        "UPDATE bookings SET hold_expires_at = now() + interval '1.5 seconds' WHERE id = %(id)s",
        {"id": made.json()["id"]},
    )
    _, held = _get(client, shop, day, day)
    assert start.isoformat() not in held["slots"]
    time.sleep(1.6)
    _, freed = _get(client, shop, day, day)
    assert start.isoformat() in freed["slots"]


def test_stable_until_is_the_first_hold_end_or_the_first_start_entering_the_notice() -> None:
    now = datetime(2027, 5, 3, 8, 0, tzinfo=UTC)
    shop = ShopRow(min_notice_minutes=120, slot_step_minutes=15, timezone="UTC")
    first = availability.Run(first=now + timedelta(hours=3), step=timedelta(minutes=15), count=4)

    def schedule(hold_ends: datetime | None) -> availability.Schedule:
        return availability.Schedule(
            shop=shop,
            provider=None,
            hours={},
            breaks={},
            time_off=[],
            busy=[],  # type: ignore[arg-type]
            first_hold_ends=hold_ends,
        )

    # 11:00 comes inside the two hours' notice at 09:00.
    assert availability.stable_until(
        schedule=schedule(None), runs=[first], now=now
    ) == now + timedelta(hours=1)
    soon = now + timedelta(minutes=20)
    assert availability.stable_until(schedule=schedule(soon), runs=[first], now=now) == soon
    assert availability.stable_until(schedule=schedule(None), runs=[], now=now) is None


def test_a_result_computed_before_a_change_is_never_stored_after_it(
    cache: AvailabilityCache,
) -> None:
    provider, query = uuid.uuid4(), "q"
    reader = cache.lookup(provider, query)  # a reader starts (and then reads the database)
    cache.invalidate([provider])  # a change commits meanwhile
    assert not cache.store(provider, query, version=reader.version, body="stale", valid_until=None)
    assert cache.lookup(provider, query).body is None
    fresh = cache.lookup(provider, query)
    assert cache.store(provider, query, version=fresh.version, body="fresh", valid_until=None)
    assert cache.lookup(provider, query).body == "fresh"


def test_only_a_committed_change_drops_the_providers_entries(
    cache: AvailabilityCache, database_url: str
) -> None:
    provider, query = uuid.uuid4(), "q"
    engine = make_engine(database_url, pool_size=1)
    sessions = make_session_factory(engine)
    availability_cache.invalidate_after_commit(sessions, cache)
    try:
        cache.store(
            provider,
            query,
            version=cache.lookup(provider, query).version,
            body="x",
            valid_until=None,
        )
        with pytest.raises(RuntimeError), transaction(sessions) as session:
            availability_cache.note_changed(session, provider)
            raise RuntimeError("the change fails and rolls back")
        assert cache.lookup(provider, query).body == "x"
        with transaction(sessions) as session:
            availability_cache.note_changed(session, provider)
        assert cache.lookup(provider, query).body is None
    finally:
        engine.dispose()


def test_a_dead_redis_means_every_answer_is_computed(booking_settings: Settings) -> None:
    dead = booking_settings.model_copy(
        update={"redis_url": SecretStr(f"redis://127.0.0.1:{free_port()}/0")}
    )
    with TestClient(create_app(dead)) as client:
        shop = make_shop(client, duration=30)
        day = future_day(5)
        status, before = _get(client, shop, day, day)
        assert status == 200 and before["slots"]
        slot = before["slots"][0]
        assert book(client, register(client), shop, datetime.fromisoformat(slot)).status_code == 201
        assert slot not in _get(client, shop, day, day)[1]["slots"]


class _Moves:
    """Random changes through the API to one shop, each of which may move its free times."""

    def __init__(self, client: TestClient, shop: Shop, days: list[date], rng: random.Random):
        self.client, self.shop, self.days, self.rng = client, shop, days, rng
        self.clients = [register(client) for _ in range(3)]
        self.bookings: list[tuple[Account, str]] = []
        self.time_off: list[str] = []
        self.offered = True

    def free_slot(self) -> str | None:
        day = self.rng.choice(self.days)
        status, body = _get(self.client, self.shop, day, day)
        return self.rng.choice(body["slots"]) if status == 200 and body["slots"] else None

    def book(self) -> str:
        slot = self.free_slot()
        if slot is None:
            return "book: nothing free"
        account = self.rng.choice(self.clients)
        made = book(self.client, account, self.shop, datetime.fromisoformat(slot))
        assert made.status_code == 201, made.text
        self.bookings.append((account, made.json()["id"]))
        return f"book {slot}"

    def pay(self) -> str:
        if not self.bookings:
            return "pay: nothing booked"
        account, booking_id = self.rng.choice(self.bookings)
        return f"pay {booking_id}: {pay(self.client, account, booking_id).status_code}"

    def cancel(self) -> str:
        if not self.bookings:
            return "cancel: nothing booked"
        account, booking_id = self.bookings.pop(self.rng.randrange(len(self.bookings)))
        response = self.client.post(
            f"/api/v1/bookings/{booking_id}/cancel", headers=account.headers
        )
        assert response.status_code == 200, response.text
        return f"cancel {booking_id}"

    def reschedule(self) -> str:
        slot = self.free_slot()
        if not self.bookings or slot is None:
            return "reschedule: nothing to move"
        account, booking_id = self.rng.choice(self.bookings)
        response = self.client.post(
            f"/api/v1/bookings/{booking_id}/reschedule",
            headers=account.headers,
            json={"starts_at": slot},
        )
        # 409: it was cancelled or paid meanwhile; 422: the service is no longer offered.
        assert response.status_code in (200, 409, 422), response.text
        return f"reschedule {booking_id} to {slot}: {response.status_code}"

    def add_time_off(self) -> str:
        start = local(self.rng.choice(self.days), f"{self.rng.randrange(8, 16):02d}:15")
        response = self.client.post(
            f"/api/v1/providers/{self.shop.provider_id}/time-off",
            headers=self.shop.owner.headers,
            json={
                "starts_at": start.isoformat(),
                "ends_at": (start + timedelta(minutes=self.rng.choice([45, 90]))).isoformat(),
            },
        )
        assert response.status_code == 201, response.text
        self.time_off.append(response.json()["id"])
        return f"time off from {start}"

    def delete_time_off(self) -> str:
        if not self.time_off:
            return "delete time off: none"
        entry = self.time_off.pop(self.rng.randrange(len(self.time_off)))
        response = self.client.delete(
            f"/api/v1/providers/{self.shop.provider_id}/time-off/{entry}",
            headers=self.shop.owner.headers,
        )
        assert response.status_code == 204, response.text
        return f"delete time off {entry}"

    def hours(self) -> str:
        start, end = (
            self.rng.choice(["08:00", "09:00", "10:30"]),
            self.rng.choice(["15:00", "17:45"]),
        )
        days = [
            {
                "weekday": d,
                "start": start,
                "end": end,
                "breaks": [{"start": "12:00", "end": "12:30"}] if self.rng.random() < 0.5 else [],
            }
            for d in range(7)
        ]
        response = self.client.put(
            f"/api/v1/providers/{self.shop.provider_id}/hours",
            headers=self.shop.owner.headers,
            json={"days": days},
        )
        assert response.status_code == 200, response.text
        return f"hours {start}-{end}"

    def shop_policy(self) -> str:
        notice = self.rng.choice([0, 60, 4 * 24 * 60])
        step = self.rng.choice([15, 20])
        response = self.client.patch(
            f"/api/v1/shops/{self.shop.id}",
            headers=self.shop.owner.headers,
            json={"min_notice_minutes": notice, "slot_step_minutes": step},
        )
        assert response.status_code == 200, response.text
        return f"notice {notice} min, step {step} min"

    def services(self) -> str:
        self.offered = not self.offered
        response = self.client.put(
            f"/api/v1/providers/{self.shop.provider_id}/services",
            headers=self.shop.owner.headers,
            json={"service_ids": [self.shop.service_id] if self.offered else []},
        )
        assert response.status_code == 200, response.text
        return f"offers the service: {self.offered}"


@pytest.mark.slow
def test_after_any_sequence_of_changes_the_cached_answer_is_the_fresh_one(
    client: TestClient, oracle: TestClient, cache: AvailabilityCache
) -> None:
    rng = random.Random(20271204)
    shop = make_shop(client, duration=30, buffer_after=10)
    first = future_day(3)
    days = [first + timedelta(days=k) for k in range(4)]
    ranges = [(first, first), (first, days[-1]), (days[1], days[2])]
    moves = _Moves(client, shop, days, rng)
    actions = [
        moves.book,
        moves.book,
        moves.book,
        moves.pay,
        moves.cancel,
        moves.reschedule,
        moves.add_time_off,
        moves.delete_time_off,
        moves.hours,
        moves.shop_policy,
        moves.services,
    ]
    hits = 0
    for step in range(60):
        # Not offering the service lasts one step (every query is a 422 meanwhile).
        done = (moves.services if not moves.offered else rng.choice(actions))()
        for lo, hi in ranges:
            cached = _get(client, shop, lo, hi)
            hits += _cached(cache, shop, lo, hi) is not None
            again = _get(client, shop, lo, hi)  # now from the cache
            assert cached == again == _get(oracle, shop, lo, hi), (step, done)
    assert hits > 60  # the cache was really in use


@pytest.mark.slow
def test_no_reader_starting_after_a_booking_was_confirmed_to_its_client_sees_its_slot(
    booking_settings: Settings, client: TestClient
) -> None:
    shop = make_shop(client, duration=15)
    day = future_day(4)
    _, body = _get(client, shop, day, day)
    wanted = body["slots"][:12]
    account = register(client)
    booked: list[tuple[float, str]] = []  # (when the 201 arrived, the slot)
    seen: list[tuple[float, list[str]]] = []  # (when the request was sent, the slots)
    done = threading.Event()

    with live_server(booking_settings) as base_url:
        query = {"service_id": shop.service_id, "from": day.isoformat(), "to": day.isoformat()}
        path = f"/api/v1/providers/{shop.provider_id}/availability"

        def read() -> None:
            with httpx.Client(base_url=base_url, timeout=30) as http:
                for _ in range(400):  # bounded; stops early once the writer is done
                    if done.is_set():
                        return
                    sent = time.monotonic()
                    seen.append((sent, http.get(path, params=query).json()["slots"]))

        def write() -> None:
            with httpx.Client(base_url=base_url, timeout=30) as http:
                for slot in wanted:
                    made = http.post(
                        "/api/v1/bookings",
                        headers=account.headers,
                        json={
                            "provider_id": shop.provider_id,
                            "service_id": shop.service_id,
                            "starts_at": slot,
                        },
                    )
                    assert made.status_code == 201, made.text
                    booked.append((time.monotonic(), slot))
                    time.sleep(0.01)
            done.set()

        with ThreadPoolExecutor(max_workers=5) as pool:
            futures = [pool.submit(read) for _ in range(4)] + [pool.submit(write)]
            for future in futures:
                future.result()

    assert len(booked) == len(wanted)
    stale = [
        (slot, sent)
        for sent, slots in seen
        for confirmed_at, slot in booked
        if confirmed_at < sent and slot in slots
    ]
    assert not stale, stale[:5]
    assert len(seen) > 20
