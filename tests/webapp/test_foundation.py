"""The web app's foundation: accounts pages, cookie sessions, CSRF, headers, modes."""

from __future__ import annotations

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from chairside.config import Settings
from chairside.ops.deploy.modes import ModeSwitch
from tests.webapp.browser import (
    WebAccount,
    check_page,
    csrf_token_in,
    log_in,
    new_account,
    rows,
    web_client,
)

pytestmark = pytest.mark.browser


def _db(settings: Settings) -> str:
    assert settings.database_url is not None
    return settings.database_url.get_secret_value()


def _users(settings: Settings) -> int:
    return int(rows(_db(settings), "SELECT count(*) FROM users")[0][0])


def test_a_person_registers_logs_in_and_logs_out_through_the_forms(
    page: Page, context: BrowserContext, base_url: str
) -> None:
    page.goto(f"{base_url}/")
    check_page(page, "home")
    page.get_by_role("link", name="Register").click()
    check_page(page, "register")
    page.get_by_label("Your name").fill("Mia Client")
    page.get_by_label("E-mail address").fill("mia@example.com")
    page.get_by_label("Password").fill("correct horse 42")
    page.get_by_label("a client booking appointments").check()
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("heading", name="Thank you")).to_be_visible()
    check_page(page, "registered")

    page.get_by_role("link", name="Log in").last.click()
    check_page(page, "login")
    log_in(page, base_url, WebAccount("mia@example.com", "client", "Mia Client"))
    expect(page.get_by_role("link", name="My bookings")).to_be_visible()
    cookies = {c["name"]: c for c in context.cookies()}
    assert cookies["cs_access"]["httpOnly"] and cookies["cs_access"]["sameSite"] == "Lax"
    assert cookies["cs_refresh"]["httpOnly"]
    stolen = [c for c in context.cookies() if c["name"] in ("cs_access", "cs_refresh")]

    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    assert not [c for c in context.cookies() if c["name"].startswith("cs_access")]
    # The tokens were revoked, not merely forgotten: put back, they open nothing.
    context.add_cookies(stolen)  # type: ignore[arg-type]
    page.goto(f"{base_url}/login")
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    expect(page.get_by_role("link", name="My bookings")).to_have_count(0)


def test_a_wrong_password_is_marked_on_the_form_and_nobody_is_logged_in(
    page: Page, base_url: str
) -> None:
    account = new_account(base_url)
    page.goto(f"{base_url}/login")
    page.get_by_label("E-mail address").fill(account.email)
    page.get_by_label("Password").fill("not the password 1")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_contain_text("Wrong e-mail or password")
    expect(page.get_by_label("E-mail address")).to_have_value(account.email)
    check_page(page, "login-failed")


def test_an_expired_access_token_is_refreshed_without_the_person_noticing(
    page: Page, context: BrowserContext, base_url: str
) -> None:
    account = new_account(base_url)
    log_in(page, base_url, account)
    old_refresh = next(c["value"] for c in context.cookies() if c["name"] == "cs_refresh")
    context.clear_cookies(name="cs_access")  # the browser dropped it when it expired
    page.goto(f"{base_url}/")
    expect(page.get_by_role("link", name="My bookings")).to_be_visible()
    cookies = {c["name"]: c["value"] for c in context.cookies()}
    assert "cs_access" in cookies and cookies["cs_refresh"] != old_refresh


def test_registration_answers_the_same_for_new_and_taken_addresses(
    base_url: str, web_settings: Settings
) -> None:
    taken = new_account(base_url)
    answers = []
    for email in (taken.email, "brand-new@example.com"):
        with web_client(base_url) as client:
            token = csrf_token_in(client.get("/register").text)
            response = client.post(
                "/register",
                data={
                    "csrf_token": token,
                    "full_name": "Someone",
                    "email": email,
                    "password": "correct horse 42",
                    "role": "client",
                },
            )
            answers.append((response.status_code, response.text.replace(email, "EMAIL")))
    assert answers[0][0] == answers[1][0] == 200
    assert answers[0][1].split("<main")[1] == answers[1][1].split("<main")[1]
    assert _users(web_settings) == 2


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("full_name", "x" * 10_000, "at most 200 characters"),
        ("full_name", "Nul\x00Byte", "control characters"),
        ("email", "not-an-address", "valid email address"),
        ("password", "short1", "at least 10"),
    ],
    ids=["10000-character-name", "nul-byte-name", "bad-email", "short-password"],
)
def test_bad_registration_input_marks_the_field_and_writes_nothing(
    base_url: str, web_settings: Settings, field: str, value: str, message: str
) -> None:
    good = {"full_name": "Ok Name", "email": "ok@example.com", "password": "correct horse 42"}
    with web_client(base_url) as client:
        token = csrf_token_in(client.get("/register").text)
        response = client.post(
            "/register", data={**good, field: value, "role": "client", "csrf_token": token}
        )
    assert response.status_code == 422
    assert f'id="{field}" name="{field}"' in response.text
    marked = response.text.split(f'id="{field}" name="{field}"')[1].split(">")[0]
    assert 'aria-invalid="true"' in marked
    assert message in response.text.split(f'id="{field}-error"')[1][:300]
    assert _users(web_settings) == 0


@pytest.mark.parametrize("token", [None, "forged-token"])
def test_a_form_without_this_browsers_csrf_token_is_refused_and_writes_nothing(
    base_url: str, web_settings: Settings, token: str | None
) -> None:
    with web_client(base_url) as client:
        client.get("/register")  # the browser has a session seed, but not the token
        data = {
            "full_name": "Forged",
            "email": "forged@example.com",
            "password": "correct horse 42",
            "role": "client",
        }
        if token:
            data["csrf_token"] = token
        response = client.post("/register", data=data)
    assert response.status_code == 403
    assert "text/html" in response.headers["content-type"]
    assert "Nothing was changed" in response.text
    assert _users(web_settings) == 0


def test_a_form_posted_from_another_site_is_refused(base_url: str, web_settings: Settings) -> None:
    with web_client(base_url) as client:
        token = csrf_token_in(client.get("/register").text)
        response = client.post(
            "/register",
            headers={"Origin": "https://evil.example"},
            data={
                "csrf_token": token,
                "full_name": "Forged",
                "email": "forged@example.com",
                "password": "correct horse 42",
            },
        )
    assert response.status_code == 403
    assert _users(web_settings) == 0


def test_every_page_carries_the_security_headers(base_url: str) -> None:
    with web_client(base_url) as client:
        for path in ("/", "/login", "/register", "/no-such-page"):
            headers = client.get(path, headers={"Accept": "text/html"}).headers
            csp = headers["content-security-policy"]
            assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp, path
            assert "unsafe-inline" not in csp
            assert headers["x-frame-options"] == "DENY"
            assert headers["x-content-type-options"] == "nosniff"
            assert headers["referrer-policy"] == "same-origin"


def test_maintenance_mode_shows_people_a_page_and_the_api_a_problem(
    base_url: str, web_settings: Settings, page: Page
) -> None:
    ModeSwitch(web_settings).switch(maintenance=True, reason="upgrading the database")
    with web_client(base_url) as client:
        web = client.get("/login", headers={"Accept": "text/html"})
        api = client.get("/api/v1/me")
    assert web.status_code == 503 and "text/html" in web.headers["content-type"]
    assert int(web.headers["retry-after"]) > 0
    assert "upgrading the database" in web.text
    assert api.status_code == 503 and api.headers["content-type"] == "application/problem+json"
    page.goto(f"{base_url}/")
    expect(page.get_by_role("heading", name="Down for maintenance")).to_be_visible()
    check_page(page, "maintenance")


def test_read_only_mode_refuses_a_registration_with_a_page_but_lets_people_log_in(
    base_url: str, web_settings: Settings, page: Page
) -> None:
    account = new_account(base_url)
    ModeSwitch(web_settings).switch(read_only=True)
    log_in(page, base_url, account)
    page.goto(f"{base_url}/register")
    page.get_by_label("Your name").fill("Late Comer")
    page.get_by_label("E-mail address").fill("late@example.com")
    page.get_by_label("Password").fill("correct horse 42")
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("heading", name="Changes are paused")).to_be_visible()
    assert _users(web_settings) == 1
