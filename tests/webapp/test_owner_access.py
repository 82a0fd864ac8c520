"""Another owner, a client, or nobody: the owner pages of a shop show and change nothing.

Each request is a tampered URL: ids of someone else's shop, provider, time off or
booking, sent with a valid session and a valid CSRF token of the intruder's own.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from chairside.config import Settings
from tests.booking.world import shift_booking
from tests.webapp.browser import (
    WebAccount,
    api_token,
    csrf_token_in,
    new_account,
    rows,
    web_client,
)

pytestmark = pytest.mark.browser


def _db(settings: Settings) -> str:
    assert settings.database_url is not None
    return settings.database_url.get_secret_value()


@contextmanager
def _logged_in(base_url: str, account: WebAccount) -> Iterator[httpx.Client]:
    with web_client(base_url) as client:
        token = csrf_token_in(client.get("/login").text)
        answer = client.post(
            "/login",
            data={"email": account.email, "password": account.password, "csrf_token": token},
        )
        assert answer.status_code == 303, answer.text
        yield client


def _victim_shop(base_url: str, settings: Settings) -> dict[str, Any]:
    """A shop with a provider, hours, a time off and a started, paid booking."""
    owner = new_account(base_url, "owner")
    headers = api_token(base_url, owner)
    api = f"{base_url}/api/v1"
    shop = httpx.post(
        f"{api}/shops",
        headers=headers,
        json={
            "name": "Secret Cuts",
            "latitude": 48.1,
            "longitude": 11.6,
            "timezone": "Europe/Berlin",
            "currency": "EUR",
            "min_notice_minutes": 0,
        },
    ).json()
    service = httpx.post(
        f"{api}/shops/{shop['id']}/services",
        headers=headers,
        json={"name": "Haircut", "duration_minutes": 30, "price_minor": 2500},
    ).json()
    provider = httpx.post(
        f"{api}/shops/{shop['id']}/providers",
        headers=headers,
        json={"name": "Vic", "service_ids": [service["id"]]},
    ).json()
    httpx.put(
        f"{api}/providers/{provider['id']}/hours",
        headers=headers,
        json={"days": [{"weekday": d, "start": "09:00", "end": "17:00"} for d in range(7)]},
    ).raise_for_status()
    ahead = datetime.now(UTC) + timedelta(days=30)
    time_off = httpx.post(
        f"{api}/providers/{provider['id']}/time-off",
        headers=headers,
        json={"starts_at": ahead.isoformat(), "ends_at": (ahead + timedelta(hours=2)).isoformat()},
    ).json()
    client = api_token(base_url, new_account(base_url, "client", full_name="Private Person"))
    day = (datetime.now(UTC) + timedelta(days=5)).astimezone(ZoneInfo("Europe/Berlin")).date()
    starts = datetime(day.year, day.month, day.day, 10, tzinfo=ZoneInfo("Europe/Berlin"))
    booking = httpx.post(
        f"{api}/bookings",
        headers=client,
        json={
            "provider_id": provider["id"],
            "service_id": service["id"],
            "starts_at": starts.isoformat(),
        },
    ).json()
    httpx.post(
        f"{api}/bookings/{booking['id']}/pay",
        headers=client,
        json={"payment_method": "4242424242424242"},
    ).raise_for_status()
    shift_booking(_db(settings), booking["id"], timedelta(days=-6))
    return {
        "shop": shop["id"],
        "provider": provider["id"],
        "time_off": time_off["id"],
        "booking": booking["id"],
        "day": (day - timedelta(days=6)).isoformat(),
    }


def test_another_owner_gets_404_for_every_page_and_action_of_a_shop_not_theirs(
    base_url: str, web_settings: Settings
) -> None:
    victim = _victim_shop(base_url, web_settings)
    database = _db(web_settings)
    shop, provider = victim["shop"], victim["provider"]
    with _logged_in(base_url, new_account(base_url, "owner")) as intruder:
        token = csrf_token_in(intruder.get("/owner/shops/new").text)
        before = rows(database, "SELECT count(*) FROM audit_log")
        for path in (
            f"/owner/shops/{shop}",
            f"/owner/shops/{shop}/settings",
            f"/owner/shops/{shop}/staff",
            f"/owner/shops/{shop}/services",
            f"/owner/shops/{shop}/calendar?date={victim['day']}&span=week",
            f"/owner/shops/{shop}/calendar.csv?date={victim['day']}&span=week",
            f"/owner/providers/{provider}/hours",
            f"/owner/providers/{provider}/time-off",
        ):
            answer = intruder.get(path)
            assert answer.status_code == 404, (path, answer.status_code)
            assert "Private Person" not in answer.text and "Secret Cuts" not in answer.text
        for path, data in (
            (f"/owner/shops/{shop}/settings", {"name": "Mine now"}),
            (f"/owner/shops/{shop}/staff", {"name": "Mole"}),
            (
                f"/owner/shops/{shop}/services",
                {"name": "Free", "duration_minutes": "5", "price": "0"},
            ),
            (f"/owner/providers/{provider}/hours", {"d0_start": "00:00", "d0_end": "01:00"}),
            (f"/owner/providers/{provider}/time-off/{victim['time_off']}/delete", {}),
            (f"/owner/bookings/{victim['booking']}/complete", {}),
            (f"/owner/bookings/{victim['booking']}/no-show", {}),
        ):
            answer = intruder.post(path, data={**data, "csrf_token": token})
            assert answer.status_code == 404, (path, answer.status_code, answer.text[:300])
    assert rows(database, "SELECT count(*) FROM audit_log") == before
    assert rows(database, "SELECT status FROM bookings") == [("confirmed",)]
    assert rows(database, "SELECT count(*) FROM time_off") == [(1,)]
    assert rows(database, "SELECT name FROM shops") == [("Secret Cuts",)]


def test_a_client_is_refused_the_owner_pages_and_a_stranger_is_sent_to_log_in(
    base_url: str, web_settings: Settings
) -> None:
    victim = _victim_shop(base_url, web_settings)
    with _logged_in(base_url, new_account(base_url, "client")) as client:
        for path in ("/owner", f"/owner/shops/{victim['shop']}/calendar?date={victim['day']}"):
            answer = client.get(path)
            assert answer.status_code == 403, (path, answer.status_code)
            assert "Private Person" not in answer.text
        token = csrf_token_in(client.get("/").text)
        finish = client.post(
            f"/owner/bookings/{victim['booking']}/complete", data={"csrf_token": token}
        )
        assert finish.status_code == 403
    with web_client(base_url) as stranger:
        answer = stranger.get(f"/owner/shops/{victim['shop']}/calendar")
        assert answer.status_code == 303
        assert answer.headers["location"].startswith("/login?next=")
    assert rows(_db(web_settings), "SELECT status FROM bookings") == [("confirmed",)]
