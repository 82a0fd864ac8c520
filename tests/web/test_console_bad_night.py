"""The ops console on a bad night, in Chromium: what matters first, nothing hidden.

Screenshots (desktop and phone) are kept under ``$CHAIRSIDE_TEST_ARTEFACTS/console`` or,
by default, pytest's base temporary directory (``…/pytest-N/artefacts/console``).
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from playwright.sync_api import Browser, expect, sync_playwright

from chairside.api.app import create_app
from chairside.checks import CheckResult, CheckStatus
from chairside.config import Settings
from chairside.ops.backup.status import BackupStatusReport
from chairside.ops.drill.report import EVENT_KIND as DRILL_EVENT
from chairside.ops.health.history import HistoryPoint, history_for
from chairside.ops.timeline.store import open_ops_store
from chairside.web.summary import BackupStatusCache
from tests.booking.world import fast_settings
from tests.ops.health.live import serve
from tests.web.test_ops_console import PHONE, _admin, _log_in

pytestmark = pytest.mark.browser

PRIMARY = "/var/chairside/backups"
DR_COPY = "s3://dr-bucket/chairside?region=eu-west-2"
FIRING = {
    "labels": {"alertname": "ChairsideHighErrorRate", "severity": "critical", "priority": "P2"},
    "annotations": {"summary": "More than 5% of requests fail"},
    "startsAt": "2026-12-06T02:55:00Z",
    "status": {"state": "active", "silencedBy": [], "inhibitedBy": []},
}


class _AlertmanagerHandler(BaseHTTPRequestHandler):
    """Alertmanager's v2 alerts endpoint, at the network edge the console reads."""

    def do_GET(self) -> None:  # noqa: N802 - the http.server hook's name
        body = json.dumps([FIRING] if self.path.startswith("/api/v2/alerts") else []).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def alertmanager_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _AlertmanagerHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture
def artefacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = os.environ.get("CHAIRSIDE_TEST_ARTEFACTS")
    base = Path(root) if root else tmp_path_factory.getbasetemp() / "artefacts"
    folder = base / "console"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _backups_with_an_unreadable_dr_copy() -> BackupStatusReport:
    ok = CheckStatus.OK
    return BackupStatusReport(
        checked_at=datetime.now(UTC),
        repository=PRIMARY,
        system_identifier="7400000000000000001",
        last_backups={"full": None, "logical": None, "schema": None},
        complete_count=3,
        incomplete=[],
        wal={
            "newest": "000000010000000000000042",
            "archived_at": None,
            "age_seconds": 20,
            "rpo_seconds": 20.0,
        },  # fmt: skip
        pitr=[],
        last_validation=None,
        checks=[
            CheckResult("backup_age", ok, "newest full backup 3 h old"),
            CheckResult("wal_archive", ok, "RPO 20 s"),
            CheckResult(f"dr:{DR_COPY}", CheckStatus.UNKNOWN, "cannot read it: access denied"),
        ],
        repositories=[
            {
                "url": PRIMARY,
                "role": "primary",
                "status": "ok",
                "summary": "primary repository",
                "lag_seconds": 0.0,
                "last_sync": None,
            },
            {
                "url": DR_COPY,
                "role": "dr",
                "status": "unknown",
                "summary": "cannot read it: access denied",
                "lag_seconds": None,
                "last_sync": "2026-12-06T01:00:00+00:00 (ok)",
            },
        ],  # fmt: skip
    )


def _a_bad_night(settings: Settings) -> None:
    store = open_ops_store(settings)
    for _ in range(12):  # the health job's routine runs: one row for them, not twelve
        store.record("health.health", "health: warning (disk 78 %)", status="warning")
    store.record("maintenance_mode.on", "maintenance mode on: disk swap")
    store.record("health.health", "health: critical (error rate 9 %)", status="critical")
    store.record(
        DRILL_EVENT,
        "drill passed",
        details={"passed": True, "status": "warning", "rto_seconds": 42.0,
                 "rpo_seconds": 3.0, "rto_target_seconds": None,
                 "rpo_target_seconds": 300.0, "repository": PRIMARY},
    )  # fmt: skip
    history = history_for(settings.home)
    now = time.time()
    for step in range(48):  # every 30 min for 24 h, an error spike three hours ago
        at = now - 24 * 3600 + step * 1800
        spike = 42 <= step <= 43
        history.add(HistoryPoint(at, 9.0 if spike else 0.4, 0.31 if spike else 0.08, 20.0))


@pytest.fixture
def night_app(settings: Settings, alertmanager_url: str) -> Iterator[tuple[str, FastAPI]]:
    own = fast_settings(settings, alertmanager_url=alertmanager_url)
    app = create_app(own)
    cache = BackupStatusCache()
    cache.keep(_backups_with_an_unreadable_dr_copy())
    app.state.ops_backup_cache = cache
    with serve(app) as url:
        yield url, app


def test_on_a_bad_night_the_console_puts_what_matters_first_and_hides_nothing(
    browser: Browser, night_app: tuple[str, FastAPI], settings: Settings, artefacts: Path
) -> None:
    base_url, _app = night_app
    email = _admin(base_url, settings)
    _a_bad_night(settings)
    requested: list[str] = []

    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    page = context.new_page()
    page.on("request", lambda request: requested.append(request.url))
    _log_in(page, base_url, email)

    first_check = page.locator("#health .checks li").first
    expect(first_check).to_contain_text("critical")  # worst first, whatever the check
    alerts = page.locator("#alerts")
    expect(alerts).to_contain_text("P2 ChairsideHighErrorRate")
    expect(alerts).to_contain_text("More than 5% of requests fail")
    backups = page.locator("#backups")
    primary_line = backups.locator("li").first
    expect(primary_line).to_contain_text(f"repository {PRIMARY}")
    expect(primary_line.locator(".badge")).to_have_text("ok")  # not the DR copy's UNKNOWN
    expect(backups).to_contain_text(f"DR {DR_COPY}")
    expect(backups).to_contain_text("cannot read it: access denied")
    expect(backups).to_contain_text("Last drill:")
    expect(backups).to_contain_text("RTO: 42 s (no target set)")
    expect(backups).to_contain_text("RPO: 3.0 s within target 5 min")
    chart = page.locator("#history svg polyline")
    expect(chart).to_have_count(3)
    expect(page.locator("#history")).to_contain_text("Error rate: now ")
    expect(page.locator("#history")).to_contain_text("24 h max 9.00 %")  # the spike
    events = page.locator("#events li")
    expect(page.locator("#events")).to_contain_text("maintenance mode on: disk swap")
    texts = events.all_inner_texts()
    assert sum("health.health" in t for t in texts) == 2, texts  # the change, once each
    page.screenshot(path=str(artefacts / "console-desktop.png"), full_page=True)

    phone = browser.new_context(viewport=PHONE, is_mobile=True)
    small = phone.new_page()
    _log_in(small, base_url, email)
    expect(small.locator("#health .checks li").first).to_contain_text("critical")
    box = small.locator("#health .checks li").first.bounding_box()
    assert box is not None and box["y"] < PHONE["height"]  # above the fold
    small.screenshot(path=str(artefacts / "console-phone.png"), full_page=True)

    favicon = httpx.get(f"{base_url}/ops/static/favicon.svg")
    assert favicon.status_code == 200 and favicon.headers["content-type"] == "image/svg+xml"
    assert page.locator("link[rel=icon]").get_attribute("href") == "/ops/static/favicon.svg"
    assert requested and all(url.startswith(base_url) for url in requested), requested
    context.close()
    phone.close()


def test_the_api_docs_load_swagger_ui_from_the_app_itself(
    browser: Browser, night_app: tuple[str, FastAPI], artefacts: Path
) -> None:
    base_url, _app = night_app
    context = browser.new_context()
    page = context.new_page()
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(f"{base_url}/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Chairside")
    expect(page.locator(".opblock-summary-path").first).to_be_visible()
    page.screenshot(path=str(artefacts / "docs.png"))
    assert all(url.startswith(base_url) for url in requested), requested
    context.close()


def test_an_empty_night_says_there_is_no_drill_no_dr_copy_and_no_alertmanager(
    settings: Settings,
) -> None:
    from tests.ops.health.live import serve as serve_app
    from tests.web.test_ops_console import _token

    with serve_app(create_app(fast_settings(settings))) as url:
        token = _token(url, _admin(url, settings))
        body = httpx.get(
            f"{url}/ops/api/summary", headers={"Authorization": f"Bearer {token}"}
        ).json()
    assert body["alerts"] == {"configured": False, "url": None, "firing": []}
    assert body["drill"] == {"last": None}
    assert body["history"]["points"] and body["history"]["points"][0]["rpo_seconds"] is None
    assert [c["status"] for c in body["health"]["checks"]][0] == "critical"
    _ = timedelta  # (kept for readers: times are UTC throughout)
