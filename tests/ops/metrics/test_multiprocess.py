"""Several uvicorn workers behind one port: ``/metrics`` counts the whole service."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from chairside.config import Settings
from chairside.ops.metrics.exposition import prepare_multiprocess
from chairside.runtime.ports import free_port

UVICORN = str(Path(sys.executable).parent / "uvicorn")
SEARCH = "/api/v1/search/providers"
QUERY = {"service": "haircut", "lat": 0, "lon": 0}


def _requests_to(exposition: str, route: str) -> float:
    return sum(
        sample.value
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
        if sample.name == "http_requests_total" and sample.labels.get("route") == route
    )


@pytest.mark.slow
def test_two_workers_report_every_request_whichever_worker_is_scraped(
    settings: Settings, tmp_path: Path
) -> None:
    assert settings.database_url is not None
    multiproc = tmp_path / "prometheus"
    multiproc.mkdir()
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("CHAIRSIDE_")},
        "PROMETHEUS_MULTIPROC_DIR": str(multiproc),
        "DATABASE_URL": settings.database_url.get_secret_value(),
        "CHAIRSIDE_HOME": str(tmp_path / "home"),
        "CHAIRSIDE_ENV": "test",
        "CHAIRSIDE_LOG_LEVEL": "WARNING",
    }
    process = subprocess.Popen(
        [
            UVICORN,
            "chairside.api.factory:create_app_from_env",
            "--factory",
            "--workers",
            "2",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert process.poll() is None, "uvicorn exited"
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.1)
        for _ in range(20):
            # A new connection each time, so the kernel spreads them over both workers.
            assert httpx.get(f"{url}{SEARCH}", params=QUERY).status_code == 200
        scrapes = [httpx.get(f"{url}/metrics").text for _ in range(6)]
        pid_files = list(multiproc.glob("counter_*.db"))
    finally:
        os.kill(process.pid, signal.SIGTERM)
        process.wait(timeout=20)
    assert len(pid_files) >= 2, "both workers should have written their counters"
    assert {_requests_to(text, SEARCH) for text in scrapes} == {20.0}


def test_up_with_several_workers_gets_an_emptied_shared_metrics_directory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    monkeypatch.delenv("prometheus_multiproc_dir", raising=False)
    assert prepare_multiprocess(tmp_path / "run", workers=1) is None
    assert "PROMETHEUS_MULTIPROC_DIR" not in os.environ
    stale = tmp_path / "run" / "prometheus" / "counter_4242.db"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"values of a worker that died")
    # monkeypatch restores the variable afterwards; prepare_multiprocess sets it.
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", "")
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR")
    path = prepare_multiprocess(tmp_path / "run", workers=3)
    assert path == stale.parent
    assert os.environ["PROMETHEUS_MULTIPROC_DIR"] == str(path)
    assert not stale.exists()
