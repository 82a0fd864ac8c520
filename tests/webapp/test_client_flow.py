"""The client web app in a phone browser: find, book, pay, reschedule, cancel; a slot race."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect
from pydantic import SecretStr

from chairside.config import Settings
from tests.booking.world import fast_settings
from tests.reminders.conftest import CHANNELS
from tests.webapp.browser import PHONE, check_page, enable_axe, log_in, new_account, rows
from tests.webapp.client_world import BERLIN, make_shop

pytestmark = pytest.mark.browser


def _db(settings: Settings) -> str:
    assert settings.database_url is not None
    return settings.database_url.get_secret_value()


def _search(page: Page, base_url: str) -> None:
    page.goto(f"{base_url}/find")
    page.get_by_label("Service").fill("haircut")
    page.get_by_label("Latitude").fill(BERLIN["lat"])
    page.get_by_label("Longitude").fill(BERLIN["lon"])
    page.get_by_role("button", name="Search").click()


@pytest.fixture
def web_settings(settings: Settings) -> Settings:
    """With a reminder channel, so that booking, moving and cancelling write reminders."""
    return fast_settings(settings, reminder_channels=SecretStr(CHANNELS))


def _reminders(settings: Settings) -> dict[str, int]:
    counted = rows(_db(settings), "SELECT status, count(*) FROM reminders GROUP BY status")
    return dict(counted)


def test_a_client_on_a_phone_finds_books_pays_reschedules_and_cancels(
    page: Page, base_url: str, web_settings: Settings
) -> None:
    assert page.viewport_size == PHONE
    make_shop(base_url)
    client = new_account(base_url)
    log_in(page, base_url, client)

    _search(page, base_url)
    expect(page.get_by_role("heading", name="Alex at Test Cuts")).to_be_visible()
    check_page(page, "client-search-results")
    page.get_by_role("link", name=re.compile("See free times")).click()
    expect(page.get_by_role("heading", name="Haircut with Alex")).to_be_visible()
    expect(page.get_by_text("times in Europe/Berlin")).to_be_visible()
    check_page(page, "client-availability")

    # The first free time: inside the shop's 24-hour free-cancellation window.
    first = page.locator(".slots button").first
    first_time = first.inner_text()
    first.click()
    expect(page.get_by_role("heading", name="Pay for your booking")).to_be_visible()
    check_page(page, "client-pay")
    page.get_by_label("Card number").fill("4000000000000002")
    page.get_by_role("button", name=re.compile("^Pay")).click()
    expect(page.locator("#payment_method-error")).to_contain_text("The card was declined")
    page.get_by_label("Card number").fill("4242 4242 4242 4242")
    page.get_by_role("button", name=re.compile("^Pay")).click()
    expect(page.get_by_role("status")).to_have_text("Paid. Your booking is confirmed.")
    expect(page.get_by_text(first_time).first).to_be_visible()
    check_page(page, "client-booking")

    # Cancelling now would keep the late fee: shown before anything is confirmed.
    page.get_by_role("link", name="Cancel booking").click()
    expect(page.locator("#cancel-fee")).to_contain_text("10.00 EUR")
    expect(page.locator("#cancel-refund")).to_have_text("15.00 EUR")
    check_page(page, "client-cancel-late")
    page.get_by_role("link", name="Keep it").click()

    # Move it three days on: no fee, shown before confirming.
    page.get_by_role("link", name="Change time").click()
    check_page(page, "client-reschedule-times")
    page.get_by_role("navigation", name="Days").get_by_role("link").nth(3).click()
    page.locator(".slots a", has_text="11:00").click()
    expect(page.locator("#reschedule-fee")).to_contain_text("0.00 EUR")
    check_page(page, "client-reschedule-confirm")
    page.get_by_role("button", name=re.compile("^Move to")).click()
    expect(page.get_by_role("status")).to_have_text("Your booking is moved to the new time.")
    expect(page.get_by_text("11:00").first).to_be_visible()
    # Its reminders moved with it: the old one (2 h before; 24 h before had passed) is set
    # aside, two new ones wait for 11:00 three days on.
    assert _reminders(web_settings) == {"moved": 1, "pending": 2}

    # Now inside the free window: cancelling refunds everything.
    page.get_by_role("link", name="Cancel booking").click()
    expect(page.locator("#cancel-fee")).to_contain_text("0.00 EUR")
    expect(page.locator("#cancel-refund")).to_have_text("25.00 EUR")
    page.get_by_label("Reason (optional)").fill("plans changed")
    page.get_by_role("button", name="Cancel booking").click()
    expect(page.get_by_role("status")).to_have_text("Your booking is cancelled.")

    page.get_by_role("link", name="My bookings", exact=True).click()
    expect(page.get_by_role("heading", name="Past and cancelled")).to_be_visible()
    check_page(page, "client-my-bookings")
    booked = rows(_db(web_settings), "SELECT status, cancellation_fee_minor FROM bookings")
    assert booked == [("cancelled", 0)]
    assert _reminders(web_settings) == {"moved": 1, "cancelled": 2}  # none will be sent
    refunded = rows(_db(web_settings), "SELECT sum(refunded_minor) FROM payments")
    assert refunded == [(2500,)]


def test_two_browsers_race_for_one_slot_and_the_loser_sees_fresh_times(
    browser: Browser, base_url: str, web_settings: Settings
) -> None:
    shop = make_shop(base_url)
    pages: list[Page] = []
    contexts: list[BrowserContext] = []
    for _ in range(2):
        context = browser.new_context(viewport=PHONE)
        enable_axe(context)
        contexts.append(context)
        page = context.new_page()
        log_in(page, base_url, new_account(base_url))
        page.goto(f"{base_url}/book/{shop.provider_id}/{shop.service_id}")
        page.get_by_role("navigation", name="Days").get_by_role("link").nth(2).click()
        pages.append(page)
    winner, loser = pages
    # Both see 10:00 free; the winner takes it first.
    for page in pages:
        expect(page.locator(".slots button", has_text="10:00")).to_be_visible()
    winner.locator(".slots button", has_text="10:00").click()
    expect(winner.get_by_role("heading", name="Pay for your booking")).to_be_visible()
    loser.locator(".slots button", has_text="10:00").click()

    alert = loser.get_by_role("alert")
    expect(alert).to_contain_text("That time is no longer free")
    expect(alert).to_contain_text("10:00 was just taken by someone else")
    slots = loser.locator(".slots button")
    expect(slots.first).to_be_visible()
    assert "10:00" not in slots.all_inner_texts()
    assert "10:30" in slots.all_inner_texts()
    check_page(loser, "client-slot-taken")
    assert rows(_db(web_settings), "SELECT count(*) FROM bookings") == [(1,)]
    for context in contexts:
        context.close()
