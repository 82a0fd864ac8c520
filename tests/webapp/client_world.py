"""A shop to book at, made through the JSON API (tests/booking/world.py) on a served app."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from tests.booking import world
from tests.webapp.browser import WebAccount, csrf_token_in

BERLIN = {"lat": "52.52", "lon": "13.405"}


@contextmanager
def api(base_url: str) -> Iterator[httpx.Client]:
    """An HTTP client for the served app (world.py's helpers take it like a TestClient)."""
    with httpx.Client(base_url=base_url, timeout=20) as client:
        yield client


def make_shop(base_url: str, **options: Any) -> world.Shop:
    """A Berlin shop with Alex offering a 30-minute Haircut for 25 EUR, open 09-17 daily."""
    with api(base_url) as client:
        return world.make_shop(client, **options)  # type: ignore[arg-type]


@contextmanager
def logged_in_client(base_url: str, account: WebAccount) -> Iterator[httpx.Client]:
    """An httpx client holding a web session of ``account`` (logged in through /login)."""
    with httpx.Client(base_url=base_url, timeout=20, follow_redirects=False) as client:
        token = csrf_token_in(client.get("/login").text)
        response = client.post(
            "/login",
            data={"csrf_token": token, "email": account.email, "password": account.password},
        )
        assert response.status_code == 303, response.text
        yield client


def form_token(client: httpx.Client, path: str) -> str:
    """The CSRF token of the page at ``path`` (after login the seed is new)."""
    response = client.get(path)
    assert response.status_code == 200, response.text
    return csrf_token_in(response.text)
