"""The rendered stack run for real: Prometheus scrapes a live app and evaluates every rule."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from chairside.api.app import create_app
from chairside.config import Settings
from chairside.ops.monitoring.render import alert_names, render_monitoring
from chairside.runtime.ports import free_port
from tests.ops.health.live import serve


def _wait(what: str, predicate: Callable[[], Any], timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = predicate()
        except httpx.HTTPError:
            value = None
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


@pytest.mark.slow
def test_prometheus_scrapes_the_app_and_every_rule_evaluates_cleanly(
    settings: Settings, tmp_path: Path
) -> None:
    with serve(create_app(settings)) as app_url:
        target = app_url.removeprefix("http://")
        own = settings.model_copy(update={"metrics_targets": [target]})
        out = tmp_path / "stack"
        render_monitoring(own, out=out)
        # Only the clocks change: seconds instead of the production 15 s / 30 s, so the
        # test sees a scrape and an evaluation quickly. Targets, rules and `for` stay.
        config_path = out / "prometheus.yml"
        config = yaml.safe_load(config_path.read_text())
        config["global"] = {"scrape_interval": "1s", "evaluation_interval": "1s"}
        config["scrape_configs"][0].update(scrape_interval="1s", scrape_timeout="1s")
        config_path.write_text(yaml.safe_dump(config))
        rules_path = out / "rules/chairside.rules.yml"
        rules = yaml.safe_load(rules_path.read_text())
        rules["groups"][0]["interval"] = "1s"
        rules_path.write_text(yaml.safe_dump(rules))

        port = free_port()
        log = (tmp_path / "prometheus.log").open("w")
        process = subprocess.Popen(
            [
                "prometheus",
                f"--config.file={config_path}",
                f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        api = f"http://127.0.0.1:{port}/api/v1"
        try:
            _wait("prometheus", lambda: httpx.get(f"http://127.0.0.1:{port}/-/ready").is_success)

            def query(expr: str) -> list[dict[str, Any]]:
                body = httpx.get(f"{api}/query", params={"query": expr}).json()
                result: list[dict[str, Any]] = body["data"]["result"]
                return result

            up = _wait("a scrape of the app", lambda: query(f'up{{job="{own.metrics_job}"}} == 1'))
            assert up[0]["metric"]["instance"] == target
            database = _wait(
                "health metrics", lambda: query('chairside_health_status{check="database"}')
            )
            assert database[0]["value"][1] == "0"

            def evaluated() -> list[dict[str, Any]] | None:
                groups = httpx.get(f"{api}/rules").json()["data"]["groups"]
                loaded = [r for g in groups for r in g["rules"]]
                if not loaded or any(
                    r.get("lastEvaluation", "").startswith("0001") for r in loaded
                ):
                    return None
                return loaded

            loaded = _wait("every rule evaluated", evaluated)
            # Without a backup the backup alerts are already on their way (pending: `for`).
            pending = _wait(
                "a pending backup alert",
                lambda: [
                    a
                    for a in httpx.get(f"{api}/alerts").json()["data"]["alerts"]
                    if a["labels"]["alertname"] == "ChairsideBackupTooOldCritical"
                ],
            )
        finally:
            os.kill(process.pid, signal.SIGTERM)
            process.wait(timeout=15)
            log.close()
    assert sorted(r["name"] for r in loaded) == sorted(alert_names(own))
    broken = {r["name"]: r.get("lastError") for r in loaded if r["health"] != "ok"}
    assert not broken, f"rules failing to evaluate on real data: {broken}"
    assert pending[0]["state"] == "pending"
    assert pending[0]["labels"]["priority"] == "P2"
