"""``chairside alerts`` against a real Alertmanager (Debian's binary) on loopback ports."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from chairside.cli.main import app
from chairside.config import get_settings, load_settings
from chairside.ops.monitoring.render import render_monitoring
from chairside.ops.timeline.store import open_ops_store
from chairside.runtime.ports import free_port

BINARY = "prometheus-alertmanager"


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[str]:
    """Alertmanager with the rendered config, on free loopback ports; stopped by pid."""
    settings = load_settings(env="test", home=tmp_path / "home")
    render_monitoring(settings, out=tmp_path / "mon")
    port = free_port()
    log = (tmp_path / "alertmanager.log").open("w")
    process = subprocess.Popen(
        [
            BINARY,
            f"--config.file={tmp_path / 'mon' / 'alertmanager.yml'}",
            f"--storage.path={tmp_path / 'am-data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(f"{url}/-/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert process.poll() is None, (tmp_path / "alertmanager.log").read_text()
            assert time.monotonic() < deadline, "alertmanager did not become ready"
            time.sleep(0.1)
        yield url
    finally:
        os.kill(process.pid, signal.SIGTERM)
        process.wait(timeout=10)
        log.close()


def _post_alert(url: str, name: str, **labels: str) -> None:
    now = datetime.now(UTC)
    body = [
        {
            "labels": {"alertname": name, "job": "chairside", "instance": "api:8000", **labels},
            "annotations": {"summary": f"{name} (test)"},
            "startsAt": now.isoformat(),
            "endsAt": (now + timedelta(hours=1)).isoformat(),
        }
    ]
    httpx.post(f"{url}/api/v2/alerts", json=body, timeout=5).raise_for_status()


def _states(url: str) -> dict[str, dict[str, Any]]:
    alerts = httpx.get(f"{url}/api/v2/alerts", timeout=5).json()
    return {a["labels"]["alertname"]: a["status"] for a in alerts}


def _wait_for(predicate: Callable[[], bool], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.1)


@pytest.fixture
def chairside(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, alertmanager: str
) -> Iterator[Callable[..., tuple[int, str]]]:
    monkeypatch.setenv("CHAIRSIDE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CHAIRSIDE_ALERTMANAGER_URL", alertmanager)

    def run(*args: str) -> tuple[int, str]:
        get_settings.cache_clear()
        result = CliRunner().invoke(app, list(args), catch_exceptions=False)
        return result.exit_code, result.stdout

    yield run
    get_settings.cache_clear()


def test_a_silence_suppresses_the_matching_alert_and_only_that_one(
    alertmanager: str, chairside: Callable[..., tuple[int, str]], tmp_path: Path
) -> None:
    _post_alert(alertmanager, "ChairsideDiskUsageHigh", severity="warning", component="disk")
    _post_alert(alertmanager, "ChairsideRedisDegraded", severity="warning", component="redis")
    _wait_for(lambda: len(_states(alertmanager)) == 2)
    code, out = chairside(
        "alerts",
        "silence",
        "--matcher",
        "alertname=ChairsideDiskUsageHigh",
        "--matcher",
        "severity=~warning|info",
        "--duration",
        "2h",
        "--comment",
        "disk cleanup in progress",
        "--author",
        "ops@test",
        "--json",
    )
    assert code == 0, out
    silence = json.loads(out)
    assert silence["state"] == "active"
    assert silence["created_by"] == "ops@test"
    ends = datetime.fromisoformat(silence["ends_at"].replace("Z", "+00:00"))
    assert timedelta(hours=1, minutes=59) < ends - datetime.now(UTC) <= timedelta(hours=2)

    _wait_for(lambda: _states(alertmanager)["ChairsideDiskUsageHigh"]["state"] == "suppressed")
    states = _states(alertmanager)
    assert states["ChairsideDiskUsageHigh"]["silencedBy"] == [silence["id"]]
    event = open_ops_store(load_settings(home=tmp_path / "home")).recent(kind_prefix="alerts.")[0]
    assert event.kind == "alerts.silence"
    assert "disk cleanup in progress" in event.summary
    assert states["ChairsideRedisDegraded"]["state"] == "active"

    code, out = chairside("alerts", "list", "--json")
    assert code == 0
    listed = {a["name"]: a for a in json.loads(out)["alerts"]}
    assert listed["ChairsideDiskUsageHigh"]["silenced_by"] == [silence["id"]]
    code, out = chairside("alerts", "list", "--active-only", "--json")
    assert [a["name"] for a in json.loads(out)["alerts"]] == ["ChairsideRedisDegraded"]

    code, _ = chairside("alerts", "expire", silence["id"], "--json")
    assert code == 0
    _wait_for(lambda: _states(alertmanager)["ChairsideDiskUsageHigh"]["state"] == "active")


def test_a_critical_alert_inhibits_the_warning_of_the_same_component(alertmanager: str) -> None:
    _post_alert(alertmanager, "ChairsideDiskUsageHigh", severity="warning", component="disk")
    _post_alert(alertmanager, "ChairsideDiskUsageCritical", severity="critical", component="disk")
    _post_alert(alertmanager, "ChairsideMemoryUsageHigh", severity="warning", component="memory")
    _wait_for(lambda: _states(alertmanager)["ChairsideDiskUsageHigh"]["state"] == "suppressed")
    states = _states(alertmanager)
    assert states["ChairsideDiskUsageHigh"]["inhibitedBy"]
    assert states["ChairsideDiskUsageCritical"]["state"] == "active"
    assert states["ChairsideMemoryUsageHigh"]["state"] == "active"


def test_bad_silences_are_refused_with_the_bad_value_named(
    chairside: Callable[..., tuple[int, str]],
) -> None:
    code, out = chairside(
        "alerts",
        "silence",
        "--matcher",
        "alertname",
        "--duration",
        "2h",
        "--comment",
        "x",
        "--json",
    )
    assert code == 2
    assert "'alertname'" in json.loads(out)["error"]["message"]
    code, out = chairside(
        "alerts",
        "silence",
        "--matcher",
        "alertname=X",
        "--duration",
        "45d",
        "--comment",
        "x",
        "--json",
    )
    assert code == 2
    assert "'45d'" in json.loads(out)["error"]["message"]


def test_an_unreachable_alertmanager_is_named(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("CHAIRSIDE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CHAIRSIDE_ALERTMANAGER_URL", f"http://127.0.0.1:{free_port()}")
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["alerts", "list", "--json"], catch_exceptions=False)
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 1
    assert "does not answer" in json.loads(result.stdout)["error"]["message"]
