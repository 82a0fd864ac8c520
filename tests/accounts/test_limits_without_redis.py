"""Rate limits hold with Redis down or absent: PostgreSQL counts them instead."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from chairside.api.app import create_app
from chairside.config import Settings
from chairside.runtime.ports import free_port
from tests.booking.world import (
    PASSWORD,
    book,
    fast_settings,
    future_day,
    local,
    make_shop,
    register,
)


def _dead_redis(settings: Settings, **overrides: object) -> Settings:
    """Settings whose Redis is configured but does not answer (nothing on the port)."""
    return fast_settings(
        settings, redis_url=SecretStr(f"redis://127.0.0.1:{free_port()}/0"), **overrides
    )


@pytest.fixture
def without_redis(settings: Settings) -> Iterator[TestClient]:
    limits = {"rate_limit_login": 3, "rate_limit_bookings": 2}
    with TestClient(create_app(_dead_redis(settings, **limits))) as client:
        yield client


def test_the_login_limit_holds_with_redis_unreachable(without_redis: TestClient) -> None:
    account = register(without_redis, "client")
    wrong = {"email": account.email, "password": "not the password 1"}
    # register() logged in once; two wrong passwords fill the window of 3
    statuses = [without_redis.post("/api/v1/auth/login", json=wrong).status_code for _ in range(2)]
    assert statuses == [401, 401]
    refused = without_redis.post("/api/v1/auth/login", json=wrong)
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) >= 1
    right = without_redis.post("/api/v1/auth/login", json={**wrong, "password": PASSWORD})
    assert right.status_code == 429  # the limit is per address and e-mail, not per outcome


def test_the_booking_limit_holds_with_redis_unreachable(without_redis: TestClient) -> None:
    shop = make_shop(without_redis)
    client = register(without_redis, "client")
    day = future_day()
    answers = [
        book(without_redis, client, shop, local(day, f"{9 + i}:00")).status_code for i in range(3)
    ]
    assert answers == [201, 201, 429]


def test_the_login_limit_holds_with_no_redis_configured(settings: Settings) -> None:
    no_redis = fast_settings(settings, redis_url=None, rate_limit_login=2)
    with TestClient(create_app(no_redis)) as client:
        account = register(client, "client")  # one attempt
        wrong = {"email": account.email, "password": "not the password 1"}
        assert client.post("/api/v1/auth/login", json=wrong).status_code == 401
        assert client.post("/api/v1/auth/login", json=wrong).status_code == 429


@pytest.mark.parametrize("redis", ["unreachable", "not configured"])
def test_a_password_spray_from_one_address_is_throttled_without_redis(
    settings: Settings, redis: str
) -> None:
    limits = {"rate_limit_login_failures_per_address": 3}
    sprayed = (
        _dead_redis(settings, **limits)
        if redis == "unreachable"
        else fast_settings(settings, redis_url=None, **limits)
    )
    with TestClient(create_app(sprayed)) as client:
        victims = [register(client) for _ in range(5)]
        # One try per account: the per-account limit never fires, the per-address one does.
        statuses = [
            client.post(
                "/api/v1/auth/login", json={"email": v.email, "password": "Summer2026!!"}
            ).status_code
            for v in victims
        ]
        assert statuses == [401] * 3 + [429] * 2
        right = {"email": victims[0].email, "password": PASSWORD}
        refused = client.post("/api/v1/auth/login", json=right)
        assert refused.status_code == 429  # checked before the password: the spray learns nothing
        assert "failed logins from your address" in refused.json()["detail"]
        assert int(refused.headers["retry-after"]) >= 1
    # Another address is not held back by this one's failures.
    with TestClient(create_app(sprayed), client=("192.0.2.7", 4000)) as other:
        assert other.post("/api/v1/auth/login", json=right).status_code == 200


def test_idempotent_replays_are_not_limited_with_redis_unreachable(
    without_redis: TestClient,
) -> None:
    shop = make_shop(without_redis)
    client = register(without_redis, "client")
    day = future_day()
    first = book(without_redis, client, shop, local(day, "10:00"), key="retry-me")
    assert first.status_code == 201

    def retry() -> None:
        again = book(without_redis, client, shop, local(day, "10:00"), key="retry-me")
        assert again.status_code == 200, again.text
        assert again.json()["id"] == first.json()["id"]

    for _ in range(3):  # more retries than the limit of 2: none of them is refused,
        retry()
    # and they took none of it: the second new booking fits, a retry still works at the
    # limit, and a third new booking does not.
    assert book(without_redis, client, shop, local(day, "11:00")).status_code == 201
    retry()
    assert book(without_redis, client, shop, local(day, "12:00")).status_code == 429
