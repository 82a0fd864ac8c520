"""Structured logs: one JSON object per line, carrying the request id."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from chairside.api.app import create_app
from chairside.config import Settings


def test_each_request_logs_one_json_line_with_its_request_id(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    verbose = settings.model_copy(update={"log_level": "INFO"})
    with TestClient(create_app(verbose)) as client:
        client.get("/no-such-page", headers={"X-Request-ID": "trace-77"})
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line]
    entry = next(e for e in lines if e.get("msg") == "request")
    assert entry["request_id"] == "trace-77"
    assert entry["status"] == 404
    assert entry["route"] == "unmatched"
    assert entry["level"] == "info"


def test_health_checks_are_not_logged_so_probes_do_not_flood_the_log(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    verbose = settings.model_copy(update={"log_level": "INFO"})
    with TestClient(create_app(verbose)) as client:
        for _ in range(5):
            client.get("/health")
    assert '"route": "/health"' not in capsys.readouterr().err
