"""Forensics: the API's JSON log file names client and user; auth failures are events."""

from __future__ import annotations

import json
from pathlib import Path

from fastapi.testclient import TestClient

from chairside.api.app import create_app
from chairside.config import Settings
from chairside.ops.timeline.store import open_ops_store
from tests.booking.world import PASSWORD, fast_settings, register


def _lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line]


def test_the_api_logs_json_lines_with_client_and_user_to_a_file_under_home_log(
    settings: Settings,
) -> None:
    verbose = fast_settings(settings, log_level="INFO")
    with TestClient(create_app(verbose)) as client:
        account = register(client)
        assert client.get("/api/v1/me", headers=account.headers).status_code == 200
    log = verbose.home / "log" / "api.log"
    entry = next(e for e in _lines(log) if e.get("route") == "/api/v1/me")
    assert entry["msg"] == "request"
    assert entry["status"] == 200
    assert entry["user_id"] == account.id
    assert entry["client"] == "testclient"  # the peer TestClient connects from
    anonymous = next(e for e in _lines(log) if e.get("route") == "/api/v1/auth/register")
    assert anonymous["user_id"] is None


def test_failed_logins_and_forbidden_requests_are_security_events_and_a_metric(
    settings: Settings,
) -> None:
    quick = fast_settings(settings)
    with TestClient(create_app(quick)) as client:
        account = register(client)
        wrong = client.post(
            "/api/v1/auth/login", json={"email": account.email, "password": PASSWORD + "x"}
        )
        assert wrong.status_code == 401
        forbidden = client.get("/ops/api/summary", headers=account.headers)
        assert forbidden.status_code == 403
        bad_token = client.get("/api/v1/me", headers={"Authorization": "Bearer not-a-token"})
        assert bad_token.status_code == 401
        assert client.get("/api/v1/me").status_code == 401  # no credentials: not an event
        metrics = client.get("/metrics").text
    events = open_ops_store(quick).listing(kind_prefix="security.")
    kinds = [e.kind for e in events]
    assert kinds == ["security.login_failed", "security.forbidden", "security.token_rejected"]
    forbidden_event = events[1]
    assert forbidden_event.details["user_id"] == account.id
    assert forbidden_event.details["client"] == "testclient"
    assert forbidden_event.details["route"] == "/ops/api/summary"
    assert 'chairside_security_events_total{kind="login_failed"} 1.0' in metrics
    assert 'chairside_security_events_total{kind="forbidden"} 1.0' in metrics
