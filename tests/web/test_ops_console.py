"""The ops console at /ops, driven in a real browser against the real app.

One Chromium per module; every test gets its own app (on its own database, Redis and
home) and its own browser context, so sessionStorage starts empty.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, Dialog, Page, ViewportSize, expect, sync_playwright

from chairside.api.app import create_app
from chairside.config import Settings
from chairside.ops.deploy.modes import ModeSwitch
from chairside.ops.incidents import service as incidents
from chairside.ops.timeline.store import open_ops_store
from tests.booking.world import PASSWORD, fast_settings, sql
from tests.ops.health.live import serve

pytestmark = pytest.mark.browser

PHONE: ViewportSize = {"width": 390, "height": 844}
SCRIPT_SUMMARY = "<script>alert(1)</script> left in a deploy note"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture
def base_url(settings: Settings) -> Iterator[str]:
    with serve(create_app(fast_settings(settings))) as url:
        yield url


def _register(base_url: str, role: str = "client") -> str:
    """A fresh account's e-mail (its password is PASSWORD)."""
    email = f"{role}-{uuid.uuid4().hex[:8]}@example.com"
    response = httpx.post(
        f"{base_url}/api/v1/auth/register",
        json={"email": email, "password": PASSWORD, "full_name": "Night Shift", "role": role},
    )
    assert response.status_code == 202, response.text
    return email


def _admin(base_url: str, settings: Settings) -> str:
    """An admin's e-mail: admins are never self-registered, so the role is set in SQL."""
    email = _register(base_url)
    assert settings.database_url is not None
    sql(
        settings.database_url.get_secret_value(),
        "UPDATE users SET role = 'admin' WHERE email = %(e)s",
        {"e": email},
    )
    return email


def _token(base_url: str, email: str) -> str:
    response = httpx.post(
        f"{base_url}/api/v1/auth/login", json={"email": email, "password": PASSWORD}
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def _log_in(page: Page, base_url: str, email: str) -> None:
    page.goto(f"{base_url}/ops")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")


def test_an_admin_sees_checks_maintenance_incidents_and_events_as_plain_text(
    browser: Browser, base_url: str, settings: Settings
) -> None:
    email = _admin(base_url, settings)
    ModeSwitch(settings).switch(maintenance=True, reason="deploying")
    incidents.open_incident(settings, severity="P3", title="Slow availability in Berlin")
    open_ops_store(settings).record("deploy.note", SCRIPT_SUMMARY)

    context = browser.new_context()
    page = context.new_page()
    dialogs: list[str] = []

    def dismiss(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", dismiss)
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    _log_in(page, base_url, email)

    health = page.locator("#health")
    expect(health).to_contain_text("database")
    expect(health).to_contain_text("redis")
    expect(page.locator("#overall")).to_have_text("critical")  # no backup yet: critical
    modes = page.locator("#modes")
    expect(modes).to_contain_text("Maintenance mode is ON")
    expect(modes).to_contain_text("Reason: deploying")
    expect(page.locator("#incidents")).to_contain_text("Slow availability in Berlin")
    expect(page.locator("#backups")).to_contain_text("no backup status")
    expect(page.locator("#deployment")).to_contain_text("Last: none")
    expect(page.get_by_text(SCRIPT_SUMMARY, exact=False)).to_be_visible()
    assert page.locator("main script").count() == 0
    assert dialogs == []
    assert requested and all(url.startswith(base_url) for url in requested), requested
    context.close()


def test_the_console_refreshes_itself_every_thirty_seconds(
    browser: Browser, base_url: str, settings: Settings
) -> None:
    email = _admin(base_url, settings)
    context = browser.new_context()
    page = context.new_page()
    page.clock.install()
    _log_in(page, base_url, email)
    expect(page.locator("#events")).to_contain_text("No ops events yet.")

    open_ops_store(settings).record("backup.full", "base backup taken while the page was open")
    page.clock.fast_forward(20_000)
    expect(page.locator("#events")).to_contain_text("No ops events yet.")
    page.clock.fast_forward(11_000)
    expect(page.locator("#events")).to_contain_text("base backup taken while the page was open")
    context.close()


def test_a_client_who_logs_in_is_told_the_console_is_for_operators_only(
    browser: Browser, base_url: str, settings: Settings
) -> None:
    email = _register(base_url, "client")
    open_ops_store(settings).record("deploy.start", "secret-ish deploy details")
    context = browser.new_context()
    page = context.new_page()
    _log_in(page, base_url, email)

    expect(page.locator("#message")).to_contain_text("Operators only")
    expect(page.locator("#console")).to_be_hidden()
    assert "secret-ish deploy details" not in page.content()
    assert page.evaluate("sessionStorage.length") == 0
    context.close()


def test_the_summary_answers_401_without_a_token_and_403_to_a_client(
    base_url: str, settings: Settings
) -> None:
    client_token = _token(base_url, _register(base_url, "client"))
    admin_token = _token(base_url, _admin(base_url, settings))
    url = f"{base_url}/ops/api/summary"

    assert httpx.get(url).status_code == 401
    refused = httpx.get(url, headers={"Authorization": f"Bearer {client_token}"})
    assert refused.status_code == 403
    assert "operators" in refused.json()["detail"]
    allowed = httpx.get(url, headers={"Authorization": f"Bearer {admin_token}"})
    assert allowed.status_code == 200
    assert set(allowed.json()) >= {
        "health",
        "modes",
        "backups",
        "incidents",
        "deployment",
        "events",
    }


def test_the_console_and_its_login_answer_in_maintenance_mode(
    base_url: str, settings: Settings
) -> None:
    email = _admin(base_url, settings)
    ModeSwitch(settings).switch(maintenance=True, reason="migrating")

    assert httpx.get(f"{base_url}/api/v1/me").status_code == 503
    assert httpx.get(f"{base_url}/ops").status_code == 200
    login = httpx.post(f"{base_url}/ops/api/login", json={"email": email, "password": PASSWORD})
    assert login.status_code == 200, login.text
    token = login.json()["access_token"]
    summary = httpx.get(f"{base_url}/ops/api/summary", headers={"Authorization": f"Bearer {token}"})
    assert summary.status_code == 200
    assert summary.json()["modes"]["reason"] == "migrating"


def test_the_console_fits_a_phone_screen_without_horizontal_scrolling(
    browser: Browser, base_url: str, settings: Settings
) -> None:
    email = _admin(base_url, settings)
    open_ops_store(settings).record("restore.pitr", "x" * 400)  # one unbreakable long word
    context = browser.new_context(viewport=PHONE, is_mobile=True)
    page = context.new_page()
    _log_in(page, base_url, email)

    for section in ("#health", "#modes", "#incidents", "#backups", "#deployment", "#events"):
        expect(page.locator(section)).to_be_visible()
    expect(page.locator("#events")).to_contain_text("x" * 40)
    scroll_width, inner_width = page.evaluate(
        "[document.documentElement.scrollWidth, window.innerWidth]"
    )
    # A phone browser widens innerWidth to fit content that overflows, so the viewport's
    # own width is the bound too.
    assert scroll_width <= inner_width <= PHONE["width"], (scroll_width, inner_width)
    health_box = page.locator("#health").bounding_box()
    events_box = page.locator("#events").bounding_box()
    assert health_box is not None and events_box is not None
    assert events_box["y"] > health_box["y"]  # one column: sections stacked
    context.close()


def test_a_break_glass_link_opens_the_console_and_leaves_the_token_out_of_the_address(
    browser: Browser, base_url: str, settings: Settings
) -> None:
    from chairside.web.breakglass import issue_token

    incidents.open_incident(settings, severity="P1", title="Database down in Frankfurt")
    token, _ = issue_token(settings, issued_by="oncall@host")
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{base_url}/ops#break-glass={token}")

    expect(page.locator("#incidents")).to_contain_text("Database down in Frankfurt")
    assert "break-glass" not in page.url
    assert page.evaluate("sessionStorage.length") == 1
    context.close()
