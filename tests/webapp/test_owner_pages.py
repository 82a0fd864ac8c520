"""The shop owner's pages in a real browser: set up a shop, see and close its bookings.

A client books through the JSON API (as the client app would); the owner does everything
else through the pages. Every owner page gets the axe-core check and screenshots at
desktop and phone widths (test-artefacts/webapp/owner-*.png).
"""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.sync_api import Page, expect

from chairside.config import Settings
from tests.booking.world import shift_booking
from tests.webapp.browser import api_token, check_page, log_in, new_account, rows

pytestmark = pytest.mark.browser

ZONE = "America/New_York"


def _db(settings: Settings) -> str:
    assert settings.database_url is not None
    return settings.database_url.get_secret_value()


def _book(base_url: str, headers: dict[str, str], shop_id: str, day: date, hhmm: str) -> str:
    """A client books and pays a slot through the API; the booking's id."""
    providers = httpx.get(f"{base_url}/api/v1/shops/{shop_id}/providers").json()
    (provider,) = providers
    hour, minute = map(int, hhmm.split(":"))
    starts = datetime(day.year, day.month, day.day, hour, minute, tzinfo=ZoneInfo(ZONE))
    made = httpx.post(
        f"{base_url}/api/v1/bookings",
        headers=headers,
        json={
            "provider_id": provider["id"],
            "service_id": provider["service_ids"][0],
            "starts_at": starts.isoformat(),
        },
    )
    assert made.status_code == 201, made.text
    booking_id: str = made.json()["id"]
    paid = httpx.post(
        f"{base_url}/api/v1/bookings/{booking_id}/pay",
        headers=headers,
        json={"payment_method": "4242424242424242"},
    )
    assert paid.status_code == 200, paid.text
    return booking_id


def test_an_owner_sets_up_a_shop_and_closes_a_booking_from_the_calendar(
    page: Page, base_url: str, web_settings: Settings
) -> None:
    database = _db(web_settings)
    owner = new_account(base_url, "owner", full_name="Olga Owner")
    log_in(page, base_url, owner, next_path="/owner")
    expect(page).to_have_url(re.compile(r"/owner$"))
    check_page(page, "owner-home-empty")

    page.get_by_role("link", name="Create your shop").click()
    check_page(page, "owner-shop-new")
    page.get_by_label("Shop name").fill("Fade Factory")
    page.get_by_label("Address").fill("1 Main St, New York")
    page.get_by_label("Latitude").fill("40.7128")
    page.get_by_label("Longitude").fill("-74.006")
    page.get_by_label("Time zone").fill(ZONE)
    page.get_by_label("Currency").fill("USD")
    page.get_by_label("Minimum notice (minutes)").fill("0")
    page.get_by_role("button", name="Create shop").click()
    expect(page.get_by_role("heading", name="Fade Factory", level=1)).to_be_visible()
    check_page(page, "owner-shop-overview")
    shop_id = page.url.rstrip("/").split("/")[-1]

    page.locator(".subnav").get_by_role("link", name="Services").click()
    page.get_by_label("Service name").fill("Skin fade")
    page.get_by_label("Duration (minutes)").fill("45")
    page.get_by_label("Price (USD)").fill("32.50")
    page.get_by_label("Buffer after (minutes)").fill("15")
    page.get_by_role("button", name="Add service").click()
    expect(page.get_by_text("45 min · 32.50 USD")).to_be_visible()
    check_page(page, "owner-services")

    page.locator(".subnav").get_by_role("link", name="Staff").click()
    page.get_by_label("Name", exact=True).fill("Sam Barber")
    page.get_by_label("Skin fade").check()
    page.get_by_role("button", name="Add to staff").click()
    expect(page.get_by_role("heading", name="Sam Barber")).to_be_visible()
    check_page(page, "owner-staff")

    page.get_by_role("link", name="Weekly hours of Sam Barber").click()
    for weekday in range(7):
        page.locator(f"#d{weekday}_start").fill("09:00")
        page.locator(f"#d{weekday}_end").fill("17:00")
    page.locator("#d0_break_start").fill("12:00")
    page.locator("#d0_break_end").fill("13:00")
    page.get_by_role("button", name="Save weekly hours").click()
    expect(page.get_by_text("Weekly hours saved.")).to_be_visible()
    expect(page.locator("#d0_break_end")).to_have_value("13:00")
    check_page(page, "owner-hours")

    today = datetime.now(UTC).astimezone(ZoneInfo(ZONE)).date()
    off_day = today + timedelta(days=20)
    page.get_by_role("link", name="Time off of Sam Barber").click()
    page.get_by_label("From (date)").fill(off_day.isoformat())
    page.get_by_label("Until (date)").fill(off_day.isoformat())
    page.get_by_label("Reason (optional)").fill("Dentist")
    page.get_by_role("button", name="Add time off").click()
    expect(page.get_by_text("Dentist")).to_be_visible()
    check_page(page, "owner-time-off")
    assert rows(database, "SELECT count(*) FROM time_off") == [(1,)]
    assert rows(database, "SELECT count(*) FROM working_hours") == [(7,)]
    assert rows(database, "SELECT count(*) FROM working_breaks") == [(1,)]

    # A client books two appointments through the API.
    client = api_token(base_url, new_account(base_url, "client", full_name="Cleo Client"))
    day = today + timedelta(days=8)
    day -= timedelta(days=day.weekday() == 6)  # keep the next day in the same ISO week
    first = _book(base_url, client, shop_id, day, "10:00")
    second = _book(base_url, client, shop_id, day + timedelta(days=1), "14:00")

    page.goto(f"{base_url}/owner/shops/{shop_id}/calendar?date={day.isoformat()}&span=day")
    booking = page.locator(f"#booking-{first}")
    expect(booking).to_contain_text("10:00–10:45")
    expect(booking).to_contain_text("Cleo Client")
    expect(booking).to_contain_text("Skin fade with Sam Barber")
    expect(booking.get_by_role("button", name=re.compile("Completed"))).to_have_count(0)
    expect(page.locator(f"#booking-{second}")).to_have_count(0)
    check_page(page, "owner-calendar-day")

    page.get_by_role("link", name="Week view").click()
    expect(page.locator(f"#booking-{first}")).to_be_visible()
    expect(page.locator(f"#booking-{second}")).to_contain_text("14:00–14:45")
    check_page(page, "owner-calendar-week")
    shown = page.locator("li.booking").evaluate_all("items => items.map(i => i.id)")
    csv_href = page.get_by_role("link", name="Download as CSV").get_attribute("href")
    assert csv_href is not None
    download = page.request.get(f"{base_url}{csv_href}")
    assert download.ok and download.headers["content-type"].startswith("text/csv")
    table = list(csv.DictReader(io.StringIO(download.text())))
    assert (
        [f"booking-{r['booking_id']}" for r in table]
        == shown
        == [
            f"booking-{first}",
            f"booking-{second}",
        ]
    )
    assert [(r["client"], r["status"], r["timezone"]) for r in table] == [
        ("Cleo Client", "confirmed", ZONE),
        ("Cleo Client", "confirmed", ZONE),
    ]

    # Time passes (as tests/booking/world.py moves it): both appointments have started.
    for booking_id in (first, second):
        shift_booking(database, booking_id, timedelta(days=-10))
    past = day - timedelta(days=10)
    page.goto(f"{base_url}/owner/shops/{shop_id}/calendar?date={past.isoformat()}&span=week")
    page.locator(f"#booking-{first}").get_by_role("button", name=re.compile("Completed")).click()
    expect(page.locator(f"#booking-{first}")).to_contain_text("completed")
    expect(page).to_have_url(re.compile(r"span=week"))
    page.locator(f"#booking-{second}").get_by_role("button", name=re.compile("No-show")).click()
    expect(page.locator(f"#booking-{second}")).to_contain_text("no-show")
    expect(page.get_by_role("button", name=re.compile("Completed|No-show"))).to_have_count(0)
    assert sorted(
        rows(database, "SELECT id::text, status FROM bookings ORDER BY starts_at")
    ) == sorted([(first, "completed"), (second, "no_show")])
    table = list(
        csv.DictReader(
            io.StringIO(
                page.request.get(
                    f"{base_url}/owner/shops/{shop_id}/calendar.csv?date={past}&span=week"
                ).text()
            )
        )
    )
    assert [r["status"] for r in table] == ["completed", "no_show"]
