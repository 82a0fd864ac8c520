"""A small booking world for tests: accounts, a shop with a provider and a service.

Everything goes through the HTTP API (as a client app would), except where a test needs
time to pass: ``shift_booking`` moves a booking's times in the database, the way the
clock would have.
"""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from fastapi.testclient import TestClient

from chairside.config import Settings

PASSWORD = "correct horse 42"
_counter = itertools.count()


def fast_settings(settings: Settings, **overrides: Any) -> Settings:
    """Test settings: cheap argon2, webhooks left in the outbox for the test to deliver."""
    values: dict[str, Any] = {
        "password_hash_memory_kib": 1024,
        "password_hash_time_cost": 1,
        "simulated_webhook_delivery": "manual",
        "simulated_webhook_delay_seconds": 0.0,
        # Tests register many accounts from one address; the limit has its own tests.
        "rate_limit_register": 1000,
    }
    values.update(overrides)
    return settings.model_copy(update=values)


@dataclass
class Account:
    id: str
    email: str
    token: str
    refresh_token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class Shop:
    id: str
    owner: Account
    timezone: str
    provider_id: str
    service_id: str
    extra: dict[str, Any] = field(default_factory=dict)


def register(client: TestClient, role: str = "client", *, email: str | None = None) -> Account:
    """Register and log in a fresh account."""
    email = email or f"{role}{next(_counter)}-{uuid.uuid4().hex[:6]}@example.com"
    response = client.post(
        "/api/v1/auth/register",
        json={"email": email, "password": PASSWORD, "full_name": f"Test {role}", "role": role},
    )
    assert response.status_code == 202, response.text
    tokens = client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert tokens.status_code == 200, tokens.text
    body = tokens.json()
    return Account(
        id=body["user"]["id"],
        email=email,
        token=body["access_token"],
        refresh_token=body["refresh_token"],
    )


ALL_WEEK = [{"weekday": d, "start": "09:00", "end": "17:00"} for d in range(7)]


def make_shop(
    client: TestClient,
    *,
    owner: Account | None = None,
    timezone: str = "Europe/Berlin",
    latitude: float = 52.52,
    longitude: float = 13.405,
    hours: list[dict[str, Any]] | None = None,
    duration: int = 30,
    price: int = 2500,
    buffer_before: int = 0,
    buffer_after: int = 0,
    min_notice: int = 0,
    free_cancel_hours: int = 24,
    late_fee: int = 1000,
    service_name: str = "Haircut",
    name: str = "Test Cuts",
) -> Shop:
    """A shop with one provider offering one service, working every day 09-17 by default."""
    owner = owner or register(client, "owner")
    shop = client.post(
        "/api/v1/shops",
        headers=owner.headers,
        json={
            "name": name,
            "address": "Teststr. 1",
            "latitude": latitude,
            "longitude": longitude,
            "timezone": timezone,
            "currency": "EUR",
            "free_cancel_hours": free_cancel_hours,
            "late_cancel_fee_minor": late_fee,
            "min_notice_minutes": min_notice,
            "slot_step_minutes": 15,
        },
    )
    assert shop.status_code == 201, shop.text
    shop_id = shop.json()["id"]
    service = client.post(
        f"/api/v1/shops/{shop_id}/services",
        headers=owner.headers,
        json={
            "name": service_name,
            "duration_minutes": duration,
            "price_minor": price,
            "buffer_before_minutes": buffer_before,
            "buffer_after_minutes": buffer_after,
        },
    )
    assert service.status_code == 201, service.text
    provider = client.post(
        f"/api/v1/shops/{shop_id}/providers",
        headers=owner.headers,
        json={"name": "Alex", "service_ids": [service.json()["id"]]},
    )
    assert provider.status_code == 201, provider.text
    hours_response = client.put(
        f"/api/v1/providers/{provider.json()['id']}/hours",
        headers=owner.headers,
        json={"days": hours if hours is not None else ALL_WEEK},
    )
    assert hours_response.status_code == 200, hours_response.text
    return Shop(
        id=shop_id,
        owner=owner,
        timezone=timezone,
        provider_id=provider.json()["id"],
        service_id=service.json()["id"],
    )


def local(day: date, hhmm: str, timezone: str = "Europe/Berlin") -> datetime:
    """An aware datetime at a shop-local wall time."""
    hour, minute = map(int, hhmm.split(":"))
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=ZoneInfo(timezone))


def future_day(days: int = 7) -> date:
    """A date safely in the future (no notice or hold trouble)."""
    return (datetime.now(UTC) + timedelta(days=days)).date()


def book(
    client: TestClient,
    account: Account,
    shop: Shop,
    starts_at: datetime,
    *,
    key: str | None = None,
) -> Any:
    """POST /api/v1/bookings; returns the response."""
    headers = dict(account.headers)
    if key:
        headers["Idempotency-Key"] = key
    return client.post(
        "/api/v1/bookings",
        headers=headers,
        json={
            "provider_id": shop.provider_id,
            "service_id": shop.service_id,
            "starts_at": starts_at.isoformat(),
        },
    )


def pay(
    client: TestClient, account: Account, booking_id: str, card: str = "4242424242424242"
) -> Any:
    """POST /api/v1/bookings/{id}/pay with a simulated test card."""
    return client.post(
        f"/api/v1/bookings/{booking_id}/pay",
        headers=account.headers,
        json={"payment_method": card},
    )


def sql(
    database_url: str, statement: str, params: dict[str, Any] | None = None
) -> list[tuple[Any, ...]]:
    """Run SQL on the test database (for simulating elapsed time and for checks)."""
    conninfo = database_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(conninfo, autocommit=True) as conn:
        cursor = conn.execute(statement.encode(), params)  # type: ignore[arg-type]
        return cursor.fetchall() if cursor.description else []


def shift_booking(database_url: str, booking_id: str, delta: timedelta) -> None:
    """Move a booking in time, as if the clock had moved the other way."""
    sql(
        database_url,
        "UPDATE bookings SET starts_at = starts_at + %(d)s, ends_at = ends_at + %(d)s, "
        "buffered_starts_at = buffered_starts_at + %(d)s, "
        "buffered_ends_at = buffered_ends_at + %(d)s WHERE id = %(id)s",
        {"d": delta, "id": booking_id},
    )


def expire_hold(database_url: str, booking_id: str) -> None:
    """Make a booking's hold run out now."""
    sql(
        database_url,
        "UPDATE bookings SET hold_expires_at = now() - interval '1 second' WHERE id = %(id)s",
        {"id": booking_id},
    )
