"""Bad input on every owner form: the page comes back with the field marked, nothing written.

Posted with an HTTP client that keeps cookies like a browser (NUL bytes and 10,000
characters are not what a person types into a browser, but what a script sends); one
case is also shown in the browser, for axe-core and the screenshots.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from chairside.config import Settings
from tests.webapp.browser import (
    WebAccount,
    api_token,
    check_page,
    csrf_token_in,
    log_in,
    new_account,
    rows,
    web_client,
)

pytestmark = pytest.mark.browser

LONG = "x" * 10_000
NUL = "Sam\x00Barber"
SHOP = {
    "name": "Fade Factory",
    "address": "1 Main St",
    "latitude": "40.7",
    "longitude": "-74.0",
    "timezone": "America/New_York",
    "currency": "USD",
    "free_cancel_hours": "24",
    "late_cancel_fee": "10.00",
    "min_notice_minutes": "0",
    "slot_step_minutes": "15",
}


def _db(settings: Settings) -> str:
    assert settings.database_url is not None
    return settings.database_url.get_secret_value()


@pytest.fixture
def owner_client(base_url: str) -> Iterator[tuple[httpx.Client, WebAccount]]:
    """An HTTP client logged in through the login form as a fresh shop owner."""
    owner = new_account(base_url, "owner")
    with web_client(base_url) as client:
        token = csrf_token_in(client.get("/login").text)
        logged_in = client.post(
            "/login", data={"email": owner.email, "password": owner.password, "csrf_token": token}
        )
        assert logged_in.status_code == 303, logged_in.text
        yield client, owner


def _post(client: httpx.Client, form_page: str, action: str, data: dict[str, Any]) -> Any:
    token = csrf_token_in(client.get(form_page).text)
    return client.post(action, data={**data, "csrf_token": token})


def _marked(response: Any, *fields: str) -> None:
    """The form came back (422) with exactly these fields marked invalid."""
    assert response.status_code == 422, (response.status_code, response.text[:500])
    marked = set(re.findall(r'id="([^"]+)"[^>]*aria-invalid="true"', response.text))
    assert marked == set(fields), (marked, fields)
    for field in fields:
        assert f'id="{field}-error"' in response.text
    assert LONG not in response.text  # a huge value is not echoed back


def _count(database: str, table: str) -> int:
    return int(rows(database, f"SELECT count(*) FROM {table}")[0][0])


def test_bad_shop_settings_are_marked_and_nothing_is_written(
    owner_client: tuple[httpx.Client, WebAccount], web_settings: Settings
) -> None:
    client, _ = owner_client
    database = _db(web_settings)
    new = "/owner/shops/new"
    for bad, fields in (
        ({"name": LONG}, ("name",)),
        ({"name": NUL, "latitude": "200"}, ("name", "latitude")),
        (
            {"timezone": "Mars/Olympus_Mons", "late_cancel_fee": "ten"},
            ("timezone", "late_cancel_fee"),
        ),
        ({"currency": "usd", "slot_step_minutes": "1"}, ("currency", "slot_step_minutes")),
    ):
        _marked(_post(client, new, "/owner/shops", {**SHOP, **bad}), *fields)
    assert _count(database, "shops") == 0

    created = _post(client, new, "/owner/shops", SHOP)
    assert created.status_code == 303, created.text
    shop_id = created.headers["location"].rsplit("/", 1)[-1]
    settings_page = f"/owner/shops/{shop_id}/settings"
    edit = {k: v for k, v in SHOP.items() if k != "currency"}
    for bad, fields in (
        ({"name": ""}, ("name",)),
        ({"address": LONG}, ("address",)),
        (
            {"free_cancel_hours": "-1", "timezone": "Europe/Nowhere"},
            ("free_cancel_hours", "timezone"),
        ),
    ):
        _marked(_post(client, settings_page, settings_page, {**edit, **bad}), *fields)
    assert rows(database, "SELECT name, address, timezone, free_cancel_hours FROM shops") == [
        ("Fade Factory", "1 Main St", "America/New_York", 24)
    ]
    assert rows(database, "SELECT action FROM audit_log WHERE entity = 'shop'") == [
        ("shop.created",)
    ]


def test_bad_staff_services_hours_and_time_off_are_marked_and_nothing_is_written(
    owner_client: tuple[httpx.Client, WebAccount], web_settings: Settings
) -> None:
    client, _ = owner_client
    database = _db(web_settings)
    shop_id = _post(client, "/owner/shops/new", "/owner/shops", SHOP).headers["location"]
    shop_id = shop_id.rsplit("/", 1)[-1]

    services = f"/owner/shops/{shop_id}/services"
    good_service = {
        "name": "Skin fade",
        "duration_minutes": "30",
        "price": "25",
        "buffer_before_minutes": "0",
        "buffer_after_minutes": "0",
    }
    for bad, fields in (
        ({"name": LONG}, ("name",)),
        ({"name": NUL, "duration_minutes": "0"}, ("name", "duration_minutes")),
        ({"price": "-5", "buffer_after_minutes": "999"}, ("price", "buffer_after_minutes")),
        ({"price": "99999999"}, ("price",)),
    ):
        _marked(_post(client, services, services, {**good_service, **bad}), *fields)
    assert _count(database, "services") == 0
    assert _post(client, services, services, good_service).status_code == 303
    (service_id,) = rows(database, "SELECT id::text FROM services")[0]

    staff = f"/owner/shops/{shop_id}/staff"
    for bad, fields in (
        ({"name": LONG}, ("name",)),
        ({"name": NUL}, ("name",)),
        ({"name": "Sam", "user_email": "nobody@example.com"}, ("user_email",)),
    ):
        _marked(_post(client, staff, staff, {"service_ids": service_id, **bad}), *fields)
    # Written, then refused by the service (a service id of no shop of hers): undone.
    unknown = {"name": "Sam", "service_ids": "00000000-0000-0000-0000-000000000000"}
    refused = _post(client, staff, staff, unknown)
    assert refused.status_code == 422 and "service ids not in shop" in refused.text
    assert _count(database, "providers") == 0
    assert (
        _post(client, staff, staff, {"name": "Sam", "service_ids": service_id}).status_code == 303
    )
    (provider_id,) = rows(database, "SELECT id::text FROM providers")[0]

    assert _count(database, "provider_services") == 1
    # A service added later is given to the provider from the staff page.
    beard = {**good_service, "name": "Beard trim"}
    assert _post(client, services, services, beard).status_code == 303
    both = [r[0] for r in rows(database, "SELECT id::text FROM services ORDER BY name")]
    change = f"/owner/providers/{provider_id}/services"
    for bad_ids in ("not-a-uuid", "00000000-0000-0000-0000-000000000000"):
        refused = _post(client, staff, change, {"service_ids": [both[0], bad_ids]})
        assert refused.status_code == 422, refused.text[:300]
        assert "Services of Sam" in refused.text
    assert _count(database, "provider_services") == 1
    assert _post(client, staff, change, {"service_ids": both}).status_code == 303
    assert _count(database, "provider_services") == 2

    hours = f"/owner/providers/{provider_id}/hours"
    for bad, fields in (
        ({"d0_start": "17:00", "d0_end": "09:00"}, ("d0_end",)),
        (
            {"d1_start": "09:00", "d1_end": "13:00", "d1_start2": "12:00", "d1_end2": "17:00"},
            ("d1_start2",),
        ),
        ({"d2_start": "09:00"}, ("d2_end",)),
        (
            {
                "d3_start": "09:00",
                "d3_end": "12:00",
                "d3_break_start": "13:00",
                "d3_break_end": "14:00",
            },
            ("d3_break_start",),
        ),
        ({"d4_start": "25:00", "d4_end": "26:00"}, ("d4_start", "d4_end")),
        ({"d5_start": "09:00\x00", "d5_end": "12:00"}, ("d5_start",)),
    ):
        _marked(_post(client, hours, hours, bad), *fields)
    assert _count(database, "working_hours") == 0
    assert _post(client, hours, hours, {"d0_start": "09:00", "d0_end": "17:00"}).status_code == 303

    time_off = f"/owner/providers/{provider_id}/time-off"
    ahead = (datetime.now(UTC) + timedelta(days=30)).date()
    good_off = {
        "start_date": ahead.isoformat(),
        "start_time": "00:00",
        "end_date": ahead.isoformat(),
        "end_time": "23:59",
        "reason": "",
    }
    for bad, fields in (
        ({"start_date": "2020-01-01", "end_date": "2020-01-02"}, ("end_date",)),
        ({"end_date": (ahead - timedelta(days=2)).isoformat()}, ("end_date",)),
        ({"start_date": "someday"}, ("start_date",)),
        ({"start_time": "9 o'clock"}, ("start_time",)),
        ({"reason": "Holiday\x00"}, ("reason",)),
        ({"reason": LONG}, ("reason",)),
        ({"start_date": "1999-01-01"}, ("start_date",)),
    ):
        _marked(_post(client, time_off, time_off, {**good_off, **bad}), *fields)
    assert _count(database, "time_off") == 0
    assert _count(database, "working_hours") == 1

    # The good one is written, listed with a delete button, and deleted by it.
    assert _post(client, time_off, time_off, good_off).status_code == 303
    listed = client.get(time_off).text
    (action,) = re.findall(r'action="(/owner/providers/[^"]+/delete)"', listed)
    deleted = client.post(action, data={"csrf_token": csrf_token_in(listed)})
    assert deleted.status_code == 303
    assert _count(database, "time_off") == 0
    assert "No time off planned." in client.get(time_off).text


def test_a_rejected_form_in_the_browser_keeps_what_was_typed_and_names_the_problem(
    page: Page, base_url: str, web_settings: Settings
) -> None:
    owner = new_account(base_url, "owner")
    shop = httpx.post(
        f"{base_url}/api/v1/shops",
        headers=api_token(base_url, owner),
        json={
            **{k: v for k, v in SHOP.items() if k != "late_cancel_fee"},
            "latitude": 40.7,
            "longitude": -74.0,
            "free_cancel_hours": 24,
            "min_notice_minutes": 0,
            "slot_step_minutes": 15,
        },
    )
    assert shop.status_code == 201, shop.text
    log_in(page, base_url, owner, next_path=f"/owner/shops/{shop.json()['id']}/services")
    page.get_by_label("Service name").fill("Beard trim")
    page.get_by_label("Duration (minutes)").fill("2")
    page.get_by_label(re.compile(r"^Price")).fill("twenty")
    page.get_by_role("button", name="Add service").click()
    expect(page.get_by_role("alert")).to_contain_text("Please check these")
    expect(page.get_by_label("Duration (minutes)")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label(re.compile(r"^Price"))).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Service name")).to_have_value("Beard trim")
    check_page(page, "owner-services-rejected")
    assert _count(_db(web_settings), "services") == 0
