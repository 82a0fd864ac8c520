"""/health, /health/detailed and /metrics on a real database and Redis."""

from __future__ import annotations

import time

import httpx
import psycopg
from fastapi.testclient import TestClient
from pydantic import SecretStr

from chairside.api.app import create_app
from chairside.config import Settings
from chairside.ops.database import migrations
from chairside.ops.deploy.release import installed_version
from chairside.runtime.redis import RedisServer
from tests.support.servers import ClusterFactory, redis_server, scratch_dir


def test_liveness_answers_ok_with_a_request_id(app_client: TestClient) -> None:
    response = app_client.get("/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert response.json()["database"]["reachable"] is True
    assert len(response.headers["x-request-id"]) >= 16
    live = app_client.get("/health/live")
    # Which release answers (a rolling deploy checks it): the package version by default.
    assert live.json() == {"status": "ok", "release": installed_version()}
    assert live.headers["x-chairside-release"] == installed_version()
    ready = app_client.get("/health/ready")
    assert ready.status_code == 200
    assert ready.json()["capacity"]["capacity"] == 10


def test_readiness_fails_in_maintenance_mode_while_health_passes(settings: Settings) -> None:
    with TestClient(create_app(settings.model_copy(update={"maintenance_mode": True}))) as client:
        ready = client.get("/health/ready")
        assert ready.status_code == 503
        assert ready.json()["reasons"] == ["maintenance mode is on"]
        assert ready.headers["retry-after"] == str(settings.maintenance_retry_after)
        assert client.get("/health").status_code == 200


def test_a_request_id_sent_by_the_client_is_echoed(app_client: TestClient) -> None:
    response = app_client.get("/health", headers={"X-Request-ID": "lb-1234"})
    assert response.headers["x-request-id"] == "lb-1234"


def test_detailed_health_reports_database_and_redis_with_latency(app_client: TestClient) -> None:
    body = app_client.get("/health/detailed").json()
    checks = {c["name"]: c for c in body["checks"]}
    # Overall it is critical: nothing was backed up yet (test_component_checks.py).
    assert body["status"] == "critical"
    assert checks["database"]["status"] == "ok"
    assert checks["redis"]["status"] == "ok"
    assert checks["database"]["latency_ms"] > 0


def test_detailed_health_reports_a_stopped_redis_without_crashing(settings: Settings) -> None:
    base = scratch_dir()
    with redis_server(base) as server:
        assert isinstance(server, RedisServer)
        own = settings.model_copy(update={"redis_url": None})
        own = own.model_copy(update={"redis_url": _secret(server.url)})
        with TestClient(create_app(own)) as client:
            before = client.get("/health/detailed").json()["checks"]
            assert {c["name"]: c["status"] for c in before}["redis"] == "ok"
            server.stop()
            response = client.get("/health/detailed")
    checks = {c["name"]: c for c in response.json()["checks"]}
    assert checks["redis"]["status"] == "warning"
    assert "unreachable" in checks["redis"]["summary"]
    assert checks["database"]["status"] == "ok"


def _secret(value: str):  # type: ignore[no-untyped-def]
    from pydantic import SecretStr

    return SecretStr(value)


def test_readiness_fails_at_once_while_commits_wait_for_a_missing_synchronous_standby(
    settings: Settings, cluster_factory: ClusterFactory
) -> None:
    """Strict synchronous mode with its receiver gone: reads answer, no write would return."""
    cluster = cluster_factory.make("sync-wait")
    cluster.create_database("app")
    migrations.upgrade(url=cluster.url("app"))
    own = settings.model_copy(update={"database_url": SecretStr(cluster.url("app"))})

    def set_standby_names(value: str) -> None:
        with psycopg.connect(cluster.conninfo(), autocommit=True) as conn:
            # Test clusters run with synchronous_commit off, under which nothing waits.
            conn.execute("ALTER SYSTEM SET synchronous_commit = 'on'")
            conn.execute(f"ALTER SYSTEM SET synchronous_standby_names = '{value}'".encode())
            conn.execute("SELECT pg_reload_conf()")

    with TestClient(create_app(own)) as client:
        assert client.get("/health/ready").status_code == 200
        set_standby_names("chairside_absent")
        ready = _eventually(client, "/health/ready", 503)
        assert ready.json()["reasons"] == [
            "commits wait for a synchronous standby that is not connected"
        ]
        assert ready.json()["database"]["writes_blocked"] is True
        assert int(ready.headers["retry-after"]) >= 1
        assert client.get("/health/live").status_code == 200
        set_standby_names("")
        assert _eventually(client, "/health/ready", 200).json()["reasons"] == []


def _eventually(client: TestClient, path: str, status: int) -> httpx.Response:
    """The answer of ``path`` once it has ``status`` (the watch asks twice a second)."""
    deadline = time.monotonic() + 5
    while True:
        response = client.get(path)
        if response.status_code == status or time.monotonic() > deadline:
            assert response.status_code == status, response.text
            return response
        time.sleep(0.1)
