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
