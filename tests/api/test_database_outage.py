"""PostgreSQL stopped under a running server, then started again.

While it is down: ``/health`` fails (``curl -f`` fails), ``/health/live`` passes, every
API route answers 503 + Retry-After at once, and the ops console keeps serving its
summary to an admin already logged in and to a break-glass token issued on the host.
When it is back, everything recovers by itself.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr
from typer.testing import CliRunner

from chairside.api.app import create_app
from chairside.cli.main import app as cli_app
from chairside.config import Settings, get_settings
from chairside.ops.database import migrations
from chairside.runtime.postgres import PostgresCluster
from tests.booking.world import PASSWORD, fast_settings, sql
from tests.ops.health.live import serve
from tests.support.servers import ClusterFactory

pytestmark = pytest.mark.slow


@pytest.fixture
def own_cluster(cluster_factory: ClusterFactory) -> Iterator[PostgresCluster]:
    """A cluster this test may stop: the shared one serves every other test."""
    cluster = cluster_factory.make(wal_segsize_mb=None)
    cluster.create_database("app")
    migrations.upgrade(url=cluster.url("app"))
    yield cluster
    cluster.stop(mode="immediate")


def _account(url: str, database_url: str, *, admin: bool = False) -> str:
    email = f"outage-{uuid.uuid4().hex[:8]}@example.com"
    body = {"email": email, "password": PASSWORD, "full_name": "On Call", "role": "client"}
    assert httpx.post(f"{url}/api/v1/auth/register", json=body).status_code == 202
    if admin:
        sql(database_url, "UPDATE users SET role = 'admin' WHERE email = %(e)s", {"e": email})
    login = httpx.post(f"{url}/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    token: str = login.json()["access_token"]
    return token


def _until(check: Callable[[], bool], seconds: float) -> float:
    """Seconds until ``check`` holds; fails the test past ``seconds``."""
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < seconds, f"not within {seconds} s"
        time.sleep(0.1)
    return time.monotonic() - started


def _break_glass(monkeypatch: pytest.MonkeyPatch, home: Path) -> str:
    """`chairside ops break-glass --json`, run on the host (the same home)."""
    monkeypatch.setenv("CHAIRSIDE_HOME", str(home))
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(cli_app, ["ops", "break-glass", "--json"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.stdout
    body = json.loads(result.stdout)
    assert body["url"].endswith(f"/ops#break-glass={body['token']}")
    token: str = body["token"]
    return token


def test_a_database_outage_is_503_everywhere_but_the_console_and_recovers_by_itself(
    settings: Settings, own_cluster: PostgresCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    database_url = own_cluster.url("app")
    app_settings = fast_settings(settings, database_url=SecretStr(database_url))
    with serve(create_app(app_settings)) as url, httpx.Client(base_url=url, timeout=10) as http:
        client = {"Authorization": f"Bearer {_account(url, database_url)}"}
        admin = {"Authorization": f"Bearer {_account(url, database_url, admin=True)}"}
        assert http.get("/api/v1/me", headers=client).status_code == 200

        own_cluster.stop(mode="fast")
        # The watch asks twice a second: /health fails within about a second.
        assert _until(lambda: http.get("/health").status_code == 503, 5) < 3
        assert "retry-after" in http.get("/health").headers
        assert http.get("/health/ready").status_code == 503
        assert http.get("/health/live").status_code == 200
        assert http.get("/metrics").status_code == 200
        for method, path, kwargs in (
            ("GET", "/api/v1/me", {"headers": client}),
            ("POST", "/api/v1/auth/login", {"json": {"email": "a@b.cd", "password": "x" * 10}}),
            ("GET", "/api/v1/shops", {}),
            ("POST", "/ops/api/login", {"json": {"email": "a@b.cd", "password": "x" * 10}}),
        ):
            started = time.monotonic()
            answer = http.request(method, path, **kwargs)
            assert answer.status_code == 503, (path, answer.text)
            assert answer.headers["content-type"] == "application/problem+json"
            assert int(answer.headers["retry-after"]) >= 1
            assert time.monotonic() - started < 1
        summary = http.get("/ops/api/summary", headers=admin)
        assert summary.status_code == 200, summary.text
        body = summary.json()
        assert body["operator"]["via"] == "token-only"
        assert body["database"]["reachable"] is False
        assert "incidents" in body and "error" not in body["incidents"]
        checks = {c["name"]: c for c in body["health"]["checks"]}
        assert checks["database"]["status"] == "critical"
        assert http.get("/ops/api/summary", headers=client).status_code == 403

        glass = {"Authorization": f"Bearer {_break_glass(monkeypatch, app_settings.home)}"}
        summary = http.get("/ops/api/summary", headers=glass)
        assert summary.status_code == 200, summary.text
        assert summary.json()["operator"]["via"] == "break-glass"
        assert http.get("/api/v1/me", headers=glass).status_code == 503  # down, and not a key

        own_cluster.start()
        _until(lambda: http.get("/health").status_code == 200, 10)
        _until(lambda: http.get("/api/v1/me", headers=client).status_code == 200, 5)
        assert [http.get("/api/v1/me", headers=client).status_code for _ in range(5)] == [200] * 5
        assert http.get("/health/ready").status_code == 200
        assert http.get("/ops/api/summary", headers=admin).json()["operator"]["via"] == "account"
        # The break-glass token is for the console only, database up or not.
        assert http.get("/api/v1/me", headers=glass).status_code == 401
