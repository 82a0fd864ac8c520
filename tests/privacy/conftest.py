"""Data-rights fixtures: an app client on fast settings, the CLI on the same database,
and a small world (a shop, a client with a reviewed booking, another client)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from chairside.api.app import create_app
from chairside.cli.main import app as cli_app
from chairside.config import Settings, get_settings
from tests.booking.world import (
    Account,
    Shop,
    book,
    fast_settings,
    future_day,
    local,
    make_shop,
    pay,
    register,
    shift_booking,
)


@pytest.fixture
def fast(settings: Settings) -> Settings:
    return fast_settings(settings)


@pytest.fixture
def client(fast: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(fast)) as test_client:
        yield test_client


@dataclass
class World:
    shop: Shop
    alice: Account
    bob: Account
    alice_booking: dict[str, Any]
    bob_booking: dict[str, Any]


def make_world(client: TestClient, database_url: str) -> World:
    """Alice: a paid, completed and reviewed booking with a note. Bob: a paid booking."""
    shop = make_shop(client)
    alice, bob = register(client), register(client)
    day = future_day()
    done = client.post(
        "/api/v1/bookings",
        headers=alice.headers,
        json={
            "provider_id": shop.provider_id,
            "service_id": shop.service_id,
            "starts_at": local(day, "10:00").isoformat(),
            "note": "Alice here, left-handed, call 0170 555",
        },
    ).json()
    assert pay(client, alice, done["id"]).status_code == 200
    shift_booking(database_url, done["id"], timedelta(days=-10))
    completed = client.post(f"/api/v1/bookings/{done['id']}/complete", headers=shop.owner.headers)
    assert completed.status_code == 200, completed.text
    review = client.post(
        f"/api/v1/bookings/{done['id']}/review",
        headers=alice.headers,
        json={"rating": 5, "text": "Alice says: sharp fade"},
    )
    assert review.status_code == 201, review.text
    theirs = book(client, bob, shop, local(day, "12:00")).json()
    assert pay(client, bob, theirs["id"]).status_code == 200
    return World(shop, alice, bob, done, theirs)


@pytest.fixture
def world(client: TestClient, database_url: str) -> World:
    return make_world(client, database_url)


@dataclass
class CliRun:
    code: int
    body: Any
    stdout: str
    stderr: str


class PrivacyCli:
    """Runs ``chairside privacy …`` (or another group) against the test's settings."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, settings: Settings) -> None:
        env = {
            "CHAIRSIDE_HOME": str(settings.home),
            "CHAIRSIDE_ENV": settings.env,
            "DATABASE_URL": settings.database_url.get_secret_value()
            if settings.database_url
            else "",
        }
        if settings.redis_url is not None:
            env["REDIS_URL"] = settings.redis_url.get_secret_value()
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        monkeypatch.delenv("CHAIRSIDE_PRIVACY_INACTIVE_MONTHS", raising=False)
        self.monkeypatch = monkeypatch

    def __call__(self, *args: str, group: str = "privacy", json_output: bool = True) -> CliRun:
        get_settings.cache_clear()
        try:
            result = CliRunner().invoke(
                cli_app, [group, *args, *(["--json"] if json_output else [])]
            )
        finally:
            get_settings.cache_clear()
        body = json.loads(result.stdout) if json_output and result.stdout.strip() else None
        return CliRun(result.exit_code, body, result.stdout, result.stderr)


@pytest.fixture
def privacy_cli(monkeypatch: pytest.MonkeyPatch, fast: Settings) -> PrivacyCli:
    return PrivacyCli(monkeypatch, fast)
