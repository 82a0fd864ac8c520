"""`chairside up --demo` prints web-app logins that work."""

from __future__ import annotations

from pathlib import Path

from chairside.config import Settings
from chairside.demo import demo_logins, seed_demo
from chairside.runtime.serve import ServiceInfo
from tests.webapp.browser import csrf_token_in, web_client


def test_the_demo_logins_up_prints_open_the_web_app(base_url: str, web_settings: Settings) -> None:
    assert web_settings.database_url is not None
    seed_demo(web_settings.database_url.get_secret_value())
    logins = demo_logins()
    for role, login in logins.items():
        with web_client(base_url) as client:
            token = csrf_token_in(client.get("/login").text)
            response = client.post(
                "/login",
                data={"csrf_token": token, "email": login["email"], "password": login["password"]},
            )
            assert response.status_code == 303, (role, response.text[-400:])
            assert response.headers["location"] == login["page"], role
    client_home = logins["client"]
    with web_client(base_url) as client:
        token = csrf_token_in(client.get("/login").text)
        client.post("/login", data={"csrf_token": token, **client_home})
        bookings = client.get("/bookings")
    assert bookings.status_code == 200
    assert "Haircut" in bookings.text  # the demo client's seeded bookings


def test_up_reports_the_web_apps_address() -> None:
    info = ServiceInfo(
        api_url="http://127.0.0.1:8000", database="db", redis=None, home=Path("."), demo=None
    )
    assert info.to_dict()["web_url"] == "http://127.0.0.1:8000/"
