"""Reminder fixtures: settings with one channel, an app client, sessions, a helper world."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy.orm import Session, sessionmaker

from chairside.api.app import create_app
from chairside.config import Settings
from chairside.db import make_engine, make_session_factory
from tests.booking.world import Account, Shop, book, fast_settings, pay, sql

# Nothing listens there: the API only needs the channel's name to write reminders; tests
# deliver through an in-memory channel or a receiver of their own.
CHANNELS = "email=json://127.0.0.1:9/hook?:to={email}"


@pytest.fixture
def reminder_settings(settings: Settings) -> Settings:
    return fast_settings(settings, reminder_channels=SecretStr(CHANNELS))


@pytest.fixture
def client(reminder_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(reminder_settings)) as test_client:
        yield test_client


@pytest.fixture
def sessions(database_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(database_url, pool_size=2)
    yield make_session_factory(engine)
    engine.dispose()


def confirmed_booking(client: TestClient, account: Account, shop: Shop, starts: datetime) -> str:
    """A paid (confirmed) booking; returns its id."""
    created = book(client, account, shop, starts)
    assert created.status_code == 201, created.text
    paid = pay(client, account, created.json()["id"])
    assert paid.status_code == 200, paid.text
    return str(created.json()["id"])


def reminders_of(database_url: str, booking_id: str) -> list[dict[str, Any]]:
    """The booking's reminders, soonest due first."""
    rows = sql(
        database_url,
        "SELECT lead_minutes, due_at, status, channel, attempts FROM reminders"
        " WHERE booking_id = %(id)s ORDER BY due_at, status",
        {"id": booking_id},
    )
    keys = ("lead_minutes", "due_at", "status", "channel", "attempts")
    return [dict(zip(keys, row, strict=True)) for row in rows]
