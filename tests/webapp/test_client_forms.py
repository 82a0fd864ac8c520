"""Every client form refuses bad input with the field marked and nothing written; CSRF too."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from playwright.sync_api import Page, expect

from chairside.config import Settings
from tests.booking.world import Shop, future_day, local, shift_booking
from tests.webapp.browser import api_token, check_page, log_in, new_account, rows
from tests.webapp.client_world import BERLIN, api, form_token, logged_in_client, make_shop

pytestmark = pytest.mark.browser
LONG = "x" * 10_000
NUL = "bad\x00value"


def _db(settings: Settings) -> str:
    assert settings.database_url is not None
    return settings.database_url.get_secret_value()


def _count(settings: Settings, table: str) -> int:
    return int(rows(_db(settings), f"SELECT count(*) FROM {table}")[0][0])


def _marked(response: httpx.Response, field: str) -> str:
    """The field's error message; fails unless the field is marked aria-invalid."""
    html = response.text
    assert f'id="{field}"' in html, f"no field {field}"
    tag = html.split(f'id="{field}"')[1].split(">")[0]
    assert 'aria-invalid="true"' in tag, f"{field} is not marked: {tag}"
    return html.split(f'id="{field}-error">')[1].split("</p>")[0]


def _alert(response: httpx.Response) -> str:
    return response.text.split('role="alert"')[1].split("</div>")[0]


def test_bad_search_day_and_booking_input_is_marked_and_books_nothing(
    base_url: str, web_settings: Settings
) -> None:
    shop = make_shop(base_url)
    with logged_in_client(base_url, new_account(base_url)) as client:
        _search_day_and_book(client, shop, web_settings)


def _search_day_and_book(client: httpx.Client, shop: Shop, web_settings: Settings) -> None:
    search = {"service": "haircut", **BERLIN}
    for field, value, says in [
        ("service", LONG, "at most 200 characters"),
        ("service", NUL, "control characters"),
        ("lat", "999", "less than or equal to 90"),
        ("lon", "east", "valid number"),
        ("radius_km", "5000", "less than or equal to 200"),
    ]:
        response = client.get("/find", params={**search, field: value})
        assert response.status_code == 422, (field, value)
        assert says in _marked(response, field), (field, value)

    times = f"/book/{shop.provider_id}/{shop.service_id}"
    yesterday = (datetime.now(UTC) - timedelta(days=2)).date().isoformat()
    for value, says in [(yesterday, "is in the past"), ("2026-13-45", "not a date"), (NUL, "")]:
        response = client.get(times, params={"day": value})
        assert response.status_code == 422, value
        assert says in _marked(response, "day")

    token = form_token(client, times)
    past = local(future_day(-3), "10:00").isoformat()
    for starts_at, key, says in [
        (past, "k1", "in the past"),
        ("tomorrow at ten", "k2", "not valid"),
        (NUL, "k3", "not valid"),
        (local(future_day(3), "10:00").isoformat(), LONG, "form is incomplete"),
        (local(future_day(3), "03:00").isoformat(), "k4", "starts_at"),
    ]:
        response = client.post(
            times, data={"csrf_token": token, "starts_at": starts_at, "key": key, "day": ""}
        )
        assert response.status_code == 422, (starts_at, response.text[:300])
        assert says in _alert(response), (starts_at, _alert(response))
    assert _count(web_settings, "bookings") == 0

    # A booking form without this browser's token is refused before anything happens.
    good = local(future_day(3), "10:00").isoformat()
    for forged in ({}, {"csrf_token": "not-the-token"}):
        response = client.post(times, data={**forged, "starts_at": good, "key": "k5"})
        assert response.status_code == 403
        assert "Nothing was changed" in response.text
    assert _count(web_settings, "bookings") == 0


def test_bad_pay_cancel_reschedule_and_review_input_is_marked_and_changes_nothing(
    base_url: str, web_settings: Settings, page: Page
) -> None:
    shop = make_shop(base_url)
    account = new_account(base_url)
    headers = api_token(base_url, account)
    with api(base_url) as http:
        start = local(future_day(5), "10:00")
        held = http.post(
            "/api/v1/bookings",
            headers=headers,
            json={
                "provider_id": shop.provider_id,
                "service_id": shop.service_id,
                "starts_at": start.isoformat(),
            },
        ).json()["id"]
        done = http.post(
            "/api/v1/bookings",
            headers=headers,
            json={
                "provider_id": shop.provider_id,
                "service_id": shop.service_id,
                "starts_at": local(future_day(6), "10:00").isoformat(),
            },
        ).json()["id"]
        paid = http.post(
            f"/api/v1/bookings/{done}/pay",
            headers=headers,
            json={"payment_method": "4242424242424242"},
        )
        assert paid.status_code == 200, paid.text
        shift_booking(_db(web_settings), done, -timedelta(days=8))
        completed = http.post(f"/api/v1/bookings/{done}/complete", headers=shop.owner.headers)
        assert completed.status_code == 200, completed.text

    with logged_in_client(base_url, account) as client:
        _pay_cancel_reschedule_review(client, web_settings, held=held, done=done, start=start)

    # The review form, in the browser: accessible, and it works with good input.
    log_in(page, base_url, account, next_path=f"/bookings/{done}/review")
    expect(page.get_by_role("heading", name="Review your visit")).to_be_visible()
    page.get_by_role("button", name="Send review").click()
    expect(page.locator("#rating-error")).to_contain_text("Enter the rating")
    check_page(page, "client-review-missing-rating")
    page.get_by_label("5 of 5").check()
    page.get_by_label("Your words (optional)").fill("Sharp cut, on time.")
    page.get_by_role("button", name="Send review").click()
    expect(page.get_by_role("status")).to_have_text("Thank you for your review.")
    assert _count(web_settings, "reviews") == 1


def _pay_cancel_reschedule_review(
    client: httpx.Client, web_settings: Settings, *, held: str, done: str, start: datetime
) -> None:
    token = form_token(client, f"/bookings/{held}/pay")
    for card, says in [(LONG, "at most 200"), (NUL, "control characters"), ("1234", "test card")]:
        response = client.post(
            f"/bookings/{held}/pay", data={"csrf_token": token, "payment_method": card}
        )
        assert response.status_code == 422, card[:20]
        assert says in _marked(response, "payment_method"), card[:20]
    assert _count(web_settings, "payments") == 1  # the completed booking's only

    for reason, says in [(LONG, "at most 500"), (NUL, "control characters")]:
        response = client.post(
            f"/bookings/{held}/cancel", data={"csrf_token": token, "reason": reason}
        )
        assert response.status_code == 422
        assert says in _marked(response, "reason")
    for starts_at, says in [
        (local(future_day(-2), "10:00").isoformat(), "in the past"),
        (NUL, "not a time"),
        (local(future_day(5), "03:00").isoformat(), "starts_at"),
    ]:
        response = client.post(
            f"/bookings/{held}/reschedule", data={"csrf_token": token, "starts_at": starts_at}
        )
        assert response.status_code == 422, response.text[:300]
        assert says in _alert(response), _alert(response)
    booking = rows(
        _db(web_settings), "SELECT status, starts_at FROM bookings WHERE id = %(i)s", {"i": held}
    )
    assert booking == [("pending_payment", start)]

    for form, field, says in [
        ({"text": "great"}, "rating", "Enter the rating"),
        ({"rating": "9", "text": "great"}, "rating", "less than or equal to 5"),
        ({"rating": "5", "text": LONG}, "text", "at most 1000"),
        ({"rating": "5", "text": NUL}, "text", "control characters"),
    ]:
        response = client.post(f"/bookings/{done}/review", data={"csrf_token": token, **form})
        assert response.status_code == 422, form
        assert says in _marked(response, field), form
    assert _count(web_settings, "reviews") == 0
