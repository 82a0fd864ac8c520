"""Fixtures of the web-app browser tests: one Chromium per module, the app served per test.

``base_url`` serves the real app (uvicorn on a free loopback port) on this test's own
database and Redis; ``context`` is a fresh browser context (a phone by default, axe-core
ready) and ``page`` a page in it. Helpers are in ``tests/webapp/browser.py``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from chairside.api.app import create_app
from chairside.config import Settings
from tests.booking.world import fast_settings
from tests.ops.health.live import serve
from tests.webapp.browser import PHONE, enable_axe


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture
def web_settings(settings: Settings) -> Settings:
    """The test's settings with cheap password hashing (tests/booking/world.py)."""
    return fast_settings(settings)


@pytest.fixture
def base_url(web_settings: Settings) -> Iterator[str]:
    with serve(create_app(web_settings)) as url:
        yield url


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    context = browser.new_context(viewport=PHONE)
    enable_axe(context)
    yield context
    context.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()
