"""Helpers for web-app browser tests: accounts, logging in, screenshots, axe-core checks.

Fixtures are in ``conftest.py`` (``browser``, ``web_settings``, ``base_url``,
``context``, ``page``); this module holds the plain functions a test calls.
"""

from __future__ import annotations

import os
import re
import uuid
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import BrowserContext, Page, ViewportSize

from tests.booking.world import PASSWORD, sql

PHONE: ViewportSize = {"width": 390, "height": 844}
DESKTOP: ViewportSize = {"width": 1280, "height": 900}
HERE = Path(__file__).parent
REPO = HERE.parent.parent
AXE = HERE / "node_modules" / "axe-core" / "axe.min.js"
SERIOUS = ("serious", "critical")


@dataclass(frozen=True)
class WebAccount:
    """An account made for a test (its password is ``PASSWORD``)."""

    email: str
    role: str
    full_name: str
    password: str = PASSWORD


def new_account(base_url: str, role: str = "client", *, full_name: str = "") -> WebAccount:
    """Register a fresh account through the API (quicker than the form)."""
    email = f"{role}-{uuid.uuid4().hex[:10]}@example.com"
    name = full_name or f"Test {role.capitalize()}"
    response = httpx.post(
        f"{base_url}/api/v1/auth/register",
        json={"email": email, "password": PASSWORD, "full_name": name, "role": role},
    )
    assert response.status_code == 202, response.text
    return WebAccount(email=email, role=role, full_name=name)


def api_token(base_url: str, account: WebAccount) -> dict[str, str]:
    """Bearer headers for ``account`` (for setting up data through the API)."""
    response = httpx.post(
        f"{base_url}/api/v1/auth/login",
        json={"email": account.email, "password": account.password},
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def log_in(page: Page, base_url: str, account: WebAccount, *, next_path: str = "") -> None:
    """Log in through the login form and wait for the page it leads to."""
    target = f"{base_url}/login" + (f"?next={next_path}" if next_path else "")
    page.goto(target)
    page.get_by_label("E-mail address").fill(account.email)
    page.get_by_label("Password").fill(account.password)
    with page.expect_navigation():
        page.get_by_role("button", name="Log in").click()
    assert "/login" not in page.url, f"login failed: {page.url}"


def artefact_dir() -> Path:
    """Where screenshots go: ``$CHAIRSIDE_TEST_ARTEFACTS``, else ``test-artefacts/``."""
    base = Path(os.environ.get("CHAIRSIDE_TEST_ARTEFACTS") or REPO / "test-artefacts")
    folder = base / "webapp"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def screenshot(page: Page, name: str) -> list[Path]:
    """Full-page PNGs of the current page at desktop (1280) and phone (390x844) widths."""
    slug = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")
    before = page.viewport_size or PHONE
    saved = []
    for label, size in (("desktop", DESKTOP), ("phone", PHONE)):
        page.set_viewport_size(size)
        path = artefact_dir() / f"{slug}-{label}.png"
        page.screenshot(path=str(path), full_page=True)
        saved.append(path)
    page.set_viewport_size(before)
    return saved


@cache
def _axe_source() -> str:
    if not AXE.exists():
        raise RuntimeError(
            f"{AXE} is missing: run `make setup-test` (npm installs axe-core for the tests)"
        )
    return AXE.read_text()


def enable_axe(context: BrowserContext) -> None:
    """Make axe-core available in every page of ``context``.

    An init script, not a script tag: the pages' Content-Security-Policy allows only our
    own scripts, and scripts the browser injects this way are not subject to it.
    """
    context.add_init_script(script=_axe_source())


def assert_accessible(page: Page, *, name: str = "") -> None:
    """Run axe-core on the page; fail on any serious or critical violation."""
    result: dict[str, Any] = page.evaluate(
        "async () => await axe.run(document, {resultTypes: ['violations']})"
    )
    bad = [v for v in result["violations"] if v.get("impact") in SERIOUS]
    summary = [
        f"{v['id']} ({v['impact']}): {v['help']} at "
        + ", ".join(str(n["target"]) for n in v["nodes"][:3])
        for v in bad
    ]
    assert not bad, f"{name or page.url}: accessibility violations:\n" + "\n".join(summary)


def check_page(page: Page, name: str) -> None:
    """The two checks every page gets: axe-core, then screenshots at both widths."""
    assert_accessible(page, name=name)
    screenshot(page, name)


def rows(database_url: str, statement: str, params: dict[str, Any] | None = None) -> list[Any]:
    """Rows from the test database (to check what was, or was not, written)."""
    return sql(database_url, statement, params)


def csrf_token_in(html: str) -> str:
    """The CSRF token of the first form in a page (for posting with httpx)."""
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no csrf_token in the page"
    return found.group(1)


def web_client(base_url: str) -> httpx.Client:
    """An HTTP client that keeps cookies like a browser (for raw POSTs in tests)."""
    return httpx.Client(base_url=base_url, follow_redirects=False, timeout=10)
