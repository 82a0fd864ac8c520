"""A client downloads their data and deletes their account in the browser (a phone)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from chairside.config import Settings
from tests.booking.world import PASSWORD
from tests.webapp.browser import check_page, log_in, new_account, rows

pytestmark = pytest.mark.browser


def test_a_client_downloads_their_data_then_deletes_the_account_with_the_password(
    page: Page, base_url: str, web_settings: Settings
) -> None:
    assert web_settings.database_url is not None
    database_url = web_settings.database_url.get_secret_value()
    client = new_account(base_url, full_name="Mia Privacy")
    log_in(page, base_url, client)

    page.get_by_role("link", name="My data").click()
    expect(page.get_by_role("heading", name="My data")).to_be_visible()
    expect(page.get_by_text(client.email)).to_be_visible()
    check_page(page, "my-data")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download my data (JSON)").click()
    data = json.loads(Path(download.value.path()).read_text())
    assert data["account"]["email"] == client.email
    assert data["account"]["full_name"] == "Mia Privacy"

    page.get_by_role("link", name="Delete my account").first.click()
    expect(page.get_by_role("heading", name="What the shops keep")).to_be_visible()
    check_page(page, "delete-account")
    page.get_by_label("Your password").fill("not my password 1")
    page.get_by_role("button", name="Delete my account").click()
    expect(page.get_by_role("alert")).to_contain_text("not your password")
    expect(page.get_by_label("Your password")).to_have_attribute("aria-invalid", "true")
    # (the marked field is the foundation's macro; its screenshots are in its own tests)
    assert rows(
        database_url, "SELECT count(*) FROM users WHERE email = %(e)s", {"e": client.email}
    ) == [(1,)]

    page.get_by_label("Your password").fill(PASSWORD)
    page.get_by_role("button", name="Delete my account").click()
    expect(page.get_by_role("heading", name="Your account is deleted")).to_be_visible()
    check_page(page, "account-deleted")
    expect(page.get_by_role("link", name="Log in")).to_be_visible()  # logged out
    assert rows(
        database_url, "SELECT count(*) FROM users WHERE email = %(e)s", {"e": client.email}
    ) == [(0,)]
    login = httpx.post(
        f"{base_url}/api/v1/auth/login", json={"email": client.email, "password": PASSWORD}
    )
    assert login.status_code == 401
    page.goto(f"{base_url}/account/data")
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
