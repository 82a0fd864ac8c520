"""P1 and P2 incidents tell CHAIRSIDE_NOTIFY_URLS when they open and resolve (runbook:
notify stakeholders if HIGH or CRITICAL); a failed notification never undoes the step."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest

from chairside.config import Settings
from chairside.ops.incidents import service
from chairside.ops.notify.base import Severity
from chairside.ops.notify.memory import MemoryNotifier
from chairside.ops.timeline.store import open_ops_store
from tests.ops.incidents.conftest import Cli


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A local HTTP endpoint apprise's ``json://`` posts to; yields its URL and the bodies."""
    received: list[dict[str, Any]] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            length = int(self.headers["Content-Length"])
            received.append(json.loads(self.rfile.read(length)))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *_args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"json://127.0.0.1:{server.server_port}/hook", received
    server.shutdown()
    server.server_close()


def test_a_p1_incident_notifies_on_open_and_resolve(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, webhook: tuple[str, list[dict[str, Any]]]
) -> None:
    url, received = webhook
    monkeypatch.setenv("CHAIRSIDE_NOTIFY_URLS", url)
    code, body = cli("open", "--severity", "P1", "--title", "API down")
    assert code == 0
    assert body["notified"]["ok"] is True
    incident_id = str(body["incident"]["id"])
    code, body = cli("resolve", incident_id, "--cause", "disk full")
    assert code == 0
    assert body["notified"]["ok"] is True
    assert [m["title"] for m in received] == [
        f"[P1 CRITICAL] incident {incident_id} opened: API down",
        f"[P1] incident {incident_id} resolved: API down",
    ]
    assert "Escalation: CTO, Product Manager" in received[0]["message"]
    assert "Cause: disk full" in received[1]["message"]


def test_a_p3_incident_does_not_page_anyone(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, webhook: tuple[str, list[dict[str, Any]]]
) -> None:
    url, received = webhook
    monkeypatch.setenv("CHAIRSIDE_NOTIFY_URLS", url)
    code, body = cli("open", "--severity", "P3", "--title", "Slow search")
    assert code == 0
    assert body["notified"] is None
    assert received == []


def test_a_failed_notification_still_opens_the_incident_and_is_recorded(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> None:
    monkeypatch.setenv("CHAIRSIDE_NOTIFY_URLS", "json://127.0.0.1:1/nobody-listens")
    code, body = cli("open", "--severity", "P2", "--title", "Payments failing")
    assert code == 0
    assert body["incident"]["status"] == "open"
    assert body["notified"]["ok"] is False
    event = open_ops_store(settings).recent(kind_prefix="incident.notified")[0]
    assert event.status == "failed"
    assert event.details["incident_id"] == body["incident"]["id"]


def test_the_notifier_seam_takes_a_fake(settings: Settings) -> None:
    notifier = MemoryNotifier()
    change = service.open_incident(settings, severity="P2", title="Queue stuck", notifier=notifier)
    assert change.notified == {"ok": True, "deliveries": [{"target": "memory://", "ok": True}]}
    assert [n.severity for n in notifier.sent] == [Severity.WARNING]
