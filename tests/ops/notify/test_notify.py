"""Notifications through apprise, received by a real HTTP endpoint on loopback."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from chairside.checks import CheckResult, CheckStatus
from chairside.cli.main import app
from chairside.config import Settings, get_settings
from chairside.ops.notify.base import Notification, Severity
from chairside.ops.notify.memory import MemoryNotifier
from chairside.ops.notify.service import health_notification, send_test
from chairside.runtime.ports import free_port
from chairside.runtime.redis import RedisServer
from tests.ops.health.conftest import CliCall
from tests.support.inbox import Inbox
from tests.support.servers import redis_server, scratch_dir


def _notify(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, *args: str, urls: str | None = None
) -> tuple[int, dict[str, Any]]:
    monkeypatch.setenv("CHAIRSIDE_HOME", str(tmp_path / "home"))
    if urls is None:
        monkeypatch.delenv("CHAIRSIDE_NOTIFY_URLS", raising=False)
    else:
        monkeypatch.setenv("CHAIRSIDE_NOTIFY_URLS", urls)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(
            app, ["notify", "test", *args, "--json"], catch_exceptions=False
        )
    finally:
        get_settings.cache_clear()
    return result.exit_code, json.loads(result.stdout)


def test_notify_test_reaches_every_configured_url(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with Inbox() as first, Inbox() as second:
        code, body = _notify(monkeypatch, tmp_path, urls=f"{first.url}, {second.url}")
    assert code == 0, body
    assert body["ok"] is True
    assert len(body["deliveries"]) == 2
    for box in (first, second):
        assert box.received[0]["title"] == "Chairside test notification"
        assert "reach you" in box.received[0]["message"]


def test_a_url_that_does_not_take_the_message_fails_with_exit_1_and_is_named(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, inbox: Inbox
) -> None:
    dead = f"json://127.0.0.1:{free_port()}/hook"
    code, body = _notify(monkeypatch, tmp_path, urls=f"{inbox.url} {dead}")
    assert code == 1
    assert "not delivered" in body["error"]["message"]
    assert str(dead.split("//")[1].split("/")[0]) in body["error"]["message"]
    assert len(inbox.received) == 1  # the good one was still told


def test_no_url_configured_is_bad_input_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    code, body = _notify(monkeypatch, tmp_path)
    assert code == 2
    assert "CHAIRSIDE_NOTIFY_URLS" in body["error"]["message"]


def test_a_url_apprise_does_not_know_is_refused_by_scheme(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    code, body = _notify(monkeypatch, tmp_path, "--url", "nosuchservice://x/y")
    assert code == 2
    assert "'nosuchservice'" in body["error"]["message"]


def test_a_health_notification_lists_what_is_wrong() -> None:
    notifier = MemoryNotifier()
    results = [
        CheckResult("database", CheckStatus.OK, "answering"),
        CheckResult("redis", CheckStatus.WARNING, "unreachable"),
        CheckResult("disk", CheckStatus.CRITICAL, "91% used"),
    ]
    notifier.send(health_notification(results, source="http://api"))
    assert send_test(notifier).ok
    message = notifier.sent[0]
    assert message.severity is Severity.CRITICAL
    assert message.title == "Chairside health CRITICAL at http://api"
    assert message.body.splitlines() == ["redis: warning: unreachable", "disk: critical: 91% used"]
    assert isinstance(notifier.sent[1], Notification)


def test_health_notify_tells_people_when_redis_is_down(
    cli: CliCall, settings: Settings, inbox: Inbox
) -> None:
    assert settings.database_url is not None
    with redis_server(scratch_dir()) as server:
        assert isinstance(server, RedisServer)
        server.stop()
        result = cli(
            "health",
            "health",
            "--notify",
            "--json",
            env={
                "DATABASE_URL": settings.database_url.get_secret_value(),
                "REDIS_URL": server.url,
                "CHAIRSIDE_HEALTH_API_URL": f"http://127.0.0.1:{free_port()}",
                "CHAIRSIDE_NOTIFY_URLS": inbox.url,
            },
        )
    (sent,) = result.json()["notified"]["sent"]
    assert sent["ok"] is True
    message = inbox.received[0]
    assert message["title"].startswith("Chairside health at")
    assert "redis warning" in message["title"]
    assert "redis: warning: unreachable" in message["message"]
    assert message["type"] == "failure"
