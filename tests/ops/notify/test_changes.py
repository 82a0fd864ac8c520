"""Notifications from the schedule (issue 15, point 3): a failing job or a check that
turns bad tells people once, then once more when it recovers; maintenance mode and an
Alertmanager silence hold messages back; Prometheus scrapes where `up` really serves."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from chairside.config import Settings, load_settings
from chairside.ops.deploy.modes import ModeSwitch
from chairside.ops.monitoring.prometheus import prometheus_config
from chairside.ops.notify.changes import Change, notify_changes
from chairside.ops.schedule.jobs import Job
from chairside.ops.schedule.runner import run_job
from chairside.ops.timeline.store import open_ops_store
from chairside.runtime.ports import free_port
from tests.support.inbox import Inbox

FAILING = Job("nightly", "0 3 * * *", ("false",), 30, chairside=False)
WORKING = Job("nightly", "0 3 * * *", ("true",), 30, chairside=False)


def _settings(tmp_path: Path, inbox: Inbox, **extra: Any) -> Settings:
    return load_settings(env="test", home=tmp_path / "home", notify_urls=inbox.url, **extra)


def test_a_failing_job_tells_people_once_and_again_when_it_works(
    tmp_path: Path, inbox: Inbox
) -> None:
    settings = _settings(tmp_path, inbox)
    store = open_ops_store(settings)
    for _ in range(3):
        run_job(FAILING, settings=settings, store=store)
    assert len(inbox.received) == 1
    failed = inbox.received[0]
    assert failed["title"] == "Chairside scheduled job nightly: nightly failed"
    assert "nightly exited 1" in failed["message"]
    assert failed["type"] == "failure"
    run_job(WORKING, settings=settings, store=store)
    run_job(WORKING, settings=settings, store=store)
    assert len(inbox.received) == 2
    assert inbox.received[1]["title"] == "Chairside scheduled job nightly: recovered"
    assert inbox.received[1]["type"] == "success"
    sent = store.recent(kind_prefix="notify.sent")
    assert [e.details["recovered"] for e in reversed(sent)] == [False, True]


def test_maintenance_mode_holds_a_message_that_goes_out_once_the_window_ends(
    tmp_path: Path, inbox: Inbox
) -> None:
    settings = _settings(tmp_path, inbox)
    store = open_ops_store(settings)
    ModeSwitch(settings).switch(maintenance=True, reason="deploying 2.0")
    run_job(FAILING, settings=settings, store=store)
    assert inbox.received == []
    (held,) = store.recent(kind_prefix="notify.held")
    assert "maintenance mode is on (deploying 2.0)" in held.summary
    ModeSwitch(settings).switch(maintenance=False)
    run_job(FAILING, settings=settings, store=store)
    assert [m["title"] for m in inbox.received] == [
        "Chairside scheduled job nightly: nightly failed"
    ]


def test_a_check_that_worsens_is_told_again_and_one_that_stays_is_not(
    tmp_path: Path, inbox: Inbox
) -> None:
    settings = _settings(tmp_path, inbox)

    def disk(state: str) -> Change:
        return Change("health:disk", state, f"disk: {state}", {"check": "disk"})

    for state in ("ok", "warning", "warning", "critical", "critical", "ok", "ok"):
        notify_changes(settings, [disk(state)], title="Chairside health")
    assert [m["title"] for m in inbox.received] == [
        "Chairside health: disk warning",
        "Chairside health: disk critical",
        "Chairside health: recovered",
    ]


class _Alertmanager:
    """Alertmanager's silences endpoint on loopback: the process boundary we do not own."""

    def __init__(self, silences: list[dict[str, Any]]) -> None:
        body = json.dumps(silences).encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the http.server API
                self.send_response(200 if self.path == "/api/v2/silences" else 404)
                self.send_header("content-type", "application/json")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def silenced() -> Iterator[str]:
    manager = _Alertmanager(
        [
            {
                "id": "s-1",
                "status": {"state": "active"},
                "matchers": [
                    {"name": "job", "value": "nightly", "isRegex": False, "isEqual": True}
                ],
                "startsAt": "2026-01-01T00:00:00Z",
                "endsAt": "2099-01-01T00:00:00Z",
                "createdBy": "ops",
                "comment": "known: the nightly target is being moved",
            }
        ]
    )
    yield manager.url
    manager.server.shutdown()
    manager.server.server_close()


def test_an_alertmanager_silence_on_the_job_holds_its_message(
    tmp_path: Path, inbox: Inbox, silenced: str
) -> None:
    settings = _settings(tmp_path, inbox, alertmanager_url=silenced)
    store = open_ops_store(settings)
    run_job(FAILING, settings=settings, store=store)
    assert inbox.received == []
    (held,) = store.recent(kind_prefix="notify.held")
    assert "silenced by s-1" in held.summary
    other = Job("weekly", "0 3 * * 0", ("false",), 30, chairside=False)
    run_job(other, settings=settings, store=store)
    assert [m["title"] for m in inbox.received] == ["Chairside scheduled job weekly: weekly failed"]


def test_prometheus_scrapes_the_address_up_really_serves(tmp_path: Path) -> None:
    settings = load_settings(env="test", home=tmp_path / "home", port=8000)
    settings.run_dir.mkdir(parents=True)
    (settings.run_dir / "api.json").write_text(json.dumps({"host": "0.0.0.0", "port": 8137}))
    config = prometheus_config(settings)
    assert config["scrape_configs"][0]["static_configs"] == [{"targets": ["127.0.0.1:8137"]}]
    (settings.run_dir / "api.json").unlink()
    served = load_settings(
        env="test", home=tmp_path / "home", health_api_url="http://10.0.0.5:9100"
    )
    targets = prometheus_config(served)["scrape_configs"][0]["static_configs"][0]["targets"]
    assert targets == ["10.0.0.5:9100"]
