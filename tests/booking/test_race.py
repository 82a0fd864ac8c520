"""The race: many clients at once for overlapping slots of one provider, over real HTTP."""

from __future__ import annotations

import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

import httpx
import pytest
from fastapi.testclient import TestClient

from chairside.config import Settings
from tests.booking.live import live_server
from tests.booking.world import Account, future_day, local, make_shop, register, sql

CONTESTED = ["10:00", "11:00", "12:00", "13:00", "14:00"]
CLIENTS_PER_SLOT = 11  # 55 clients in all
OFFSETS = [0, 10, 20]  # minutes; with 30-minute services every pair in a group overlaps


@pytest.mark.slow
def test_exactly_one_client_wins_each_contested_interval(
    booking_settings: Settings, client: TestClient, database_url: str
) -> None:
    shop = make_shop(client, duration=30)
    clients = [register(client) for _ in range(len(CONTESTED) * CLIENTS_PER_SLOT)]
    day = future_day(6)
    attempts: list[tuple[Account, datetime, int]] = []
    for index, account in enumerate(clients):
        group = index % len(CONTESTED)
        offset = OFFSETS[(index // len(CONTESTED)) % len(OFFSETS)]
        attempts.append((account, local(day, CONTESTED[group]) + timedelta(minutes=offset), group))
    barrier = threading.Barrier(len(attempts))

    with live_server(booking_settings) as base_url:

        def attempt(item: tuple[Account, datetime, int]) -> tuple[int, int, dict[str, object]]:
            account, start, group = item
            with httpx.Client(base_url=base_url, timeout=30) as http:
                barrier.wait()
                # A burst past the worker's capacity is answered 503 + Retry-After (never
                # 500): a client tries again after it, as a phone app would, a few times.
                for _ in range(10):
                    response = http.post(
                        "/api/v1/bookings",
                        headers=account.headers,
                        json={
                            "provider_id": shop.provider_id,
                            "service_id": shop.service_id,
                            "starts_at": start.isoformat(),
                        },
                    )
                    if response.status_code != 503:
                        break
                    assert int(response.headers["retry-after"]) >= 1
                    time.sleep(random.uniform(0.2, 1.0))
            return group, response.status_code, response.json()

        with ThreadPoolExecutor(max_workers=len(attempts)) as pool:
            results = list(pool.map(attempt, attempts))

    assert {status for _, status, _ in results} <= {201, 409}, results
    for group in range(len(CONTESTED)):
        statuses = [status for g, status, _ in results if g == group]
        assert statuses.count(201) == 1, (CONTESTED[group], statuses)
    for _, status, body in results:
        if status == 409:
            assert "conflicting_interval" in body["details"]  # type: ignore[operator]
    overlapping = sql(
        database_url,
        """
        SELECT count(*) FROM bookings a JOIN bookings b
          ON a.provider_id = b.provider_id AND a.id < b.id
         AND tstzrange(a.buffered_starts_at, a.buffered_ends_at)
             && tstzrange(b.buffered_starts_at, b.buffered_ends_at)
        WHERE a.status IN ('pending_payment', 'confirmed')
          AND b.status IN ('pending_payment', 'confirmed')
        """,
    )
    assert overlapping == [(0,)]
    assert sql(database_url, "SELECT count(*) FROM bookings") == [(len(CONTESTED),)]


def test_concurrent_retries_with_one_idempotency_key_make_one_booking(
    booking_settings: Settings, client: TestClient, database_url: str
) -> None:
    shop = make_shop(client)
    alice = register(client)
    body = {
        "provider_id": shop.provider_id,
        "service_id": shop.service_id,
        "starts_at": local(future_day(6), "10:00").isoformat(),
    }
    barrier = threading.Barrier(8)
    with live_server(booking_settings) as base_url:

        def attempt(_: int) -> tuple[int, str]:
            with httpx.Client(base_url=base_url, timeout=30) as http:
                barrier.wait()
                response = http.post(
                    "/api/v1/bookings",
                    headers={**alice.headers, "Idempotency-Key": "retry-storm"},
                    json=body,
                )
            return response.status_code, response.json()["id"]

        with ThreadPoolExecutor(max_workers=8) as pool:
            results = list(pool.map(attempt, range(8)))
    assert sorted(status for status, _ in results) == [200] * 7 + [201]
    assert len({booking_id for _, booking_id in results}) == 1
    assert sql(database_url, "SELECT count(*) FROM bookings") == [(1,)]
