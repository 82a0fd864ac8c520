"""``chairside health health`` and ``/health/detailed``, each condition caused for real."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from chairside.api.app import create_app
from chairside.config import Settings
from chairside.runtime.ports import free_port
from chairside.runtime.redis import RedisServer
from tests.ops.health.conftest import CliCall
from tests.ops.health.live import serve
from tests.support.servers import redis_server, scratch_dir


def _env(settings: Settings, api_url: str | None = None, **extra: str) -> dict[str, str]:
    assert settings.database_url is not None
    env = {"DATABASE_URL": settings.database_url.get_secret_value()}
    if settings.redis_url is not None:
        env["REDIS_URL"] = settings.redis_url.get_secret_value()
    env["CHAIRSIDE_HEALTH_API_URL"] = api_url or f"http://127.0.0.1:{free_port()}"
    env.update(extra)
    return env


@pytest.fixture
def live_url(settings: Settings) -> Iterator[str]:
    with serve(create_app(settings)) as url:
        yield url


def test_health_reports_every_component_with_a_status_file(
    cli: CliCall, settings: Settings, live_url: str
) -> None:
    result = cli("health", "health", "--json", env=_env(settings, live_url))
    checks = result.checks()
    for name in ("api", "database", "connections", "redis", "disk", "memory", "modes"):
        assert checks[name]["status"] == "ok", checks[name]
    assert checks["error_rate"]["status"] == "ok"
    assert checks["database"]["latency_ms"] > 0
    # Nothing was ever backed up here: that alone makes the service critical.
    assert checks["backup_age"]["status"] == "critical"
    assert "no backup yet" in checks["backup_age"]["summary"]
    assert checks["wal_archive_lag"]["status"] == "critical"
    assert result.exit_code == 2
    assert checks["connections"]["details"]["max"] >= 10
    status_file = settings.home / "health" / "status.json"
    assert status_file.exists()
    assert result.json()["output"] == str(status_file)


def test_it_reports_a_stopped_redis_as_a_warning(cli: CliCall, settings: Settings) -> None:
    with redis_server(scratch_dir()) as server:
        assert isinstance(server, RedisServer)
        env = _env(settings, REDIS_URL=server.url)
        assert cli("health", "health", "--json", env=env).checks()["redis"]["status"] == "ok"
        server.stop()
        result = cli("health", "health", "--json", env=env)
    redis_check = result.checks()["redis"]
    assert redis_check["status"] == "warning"
    assert "unreachable" in redis_check["summary"]


def test_it_is_critical_with_exit_2_when_the_database_is_unreachable(
    cli: CliCall, settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> None:
    dead = f"postgresql://chairside:x@127.0.0.1:{free_port()}/chairside"
    out = tmp_path_factory.mktemp("out") / "health.json"
    result = cli(
        "health", "health", "--format", "json", "--output", str(out),  # the runbook's spelling
        env=_env(settings, DATABASE_URL=dead),
    )  # fmt: skip
    assert result.exit_code == 2
    checks = result.checks()
    assert checks["database"]["status"] == "critical"
    assert "unreachable" in checks["database"]["summary"]
    assert checks["connections"]["status"] == "unknown"
    assert checks["api"]["status"] == "critical"
    assert out.exists()


def test_lowered_thresholds_trip_disk_and_memory(cli: CliCall, settings: Settings) -> None:
    env = _env(
        settings,
        CHAIRSIDE_HEALTH_DISK_WARNING_PERCENT="0.01",
        CHAIRSIDE_HEALTH_DISK_CRITICAL_PERCENT="0.02",
        CHAIRSIDE_HEALTH_MEMORY_WARNING_PERCENT="0.01",
        CHAIRSIDE_HEALTH_MEMORY_CRITICAL_PERCENT="99.9",
    )
    result = cli("health", "health", "--json", env=env)
    checks = result.checks()
    assert checks["disk"]["status"] == "critical"
    assert "critical above 0.02%" in checks["disk"]["summary"]
    assert checks["memory"]["status"] == "warning"
    assert result.exit_code == 2


def test_connections_warn_at_the_configured_share_of_max_connections(
    cli: CliCall, settings: Settings
) -> None:
    env = _env(settings, CHAIRSIDE_HEALTH_CONNECTIONS_WARNING_PERCENT="0.5")
    checks = cli("health", "health", "--json", env=env).checks()
    assert checks["connections"]["status"] == "warning"
    assert checks["connections"]["details"]["used"] >= 1


def test_maintenance_mode_turns_health_to_a_warning(cli: CliCall, settings: Settings) -> None:
    assert cli("maintenance-mode", "on", "--reason", "upgrade").exit_code == 0
    checks = cli("health", "health", "--json", env=_env(settings)).checks()
    assert checks["modes"]["status"] == "warning"
    assert "maintenance" in checks["modes"]["summary"]


def _failing_app(settings: Settings) -> FastAPI:
    app = create_app(settings)

    def broken() -> None:
        raise RuntimeError("injected fault: this handler always fails")

    app.add_api_route("/api/v1/broken", broken, methods=["GET"])
    return app


def test_the_error_rate_goes_critical_when_the_app_answers_500s(
    cli: CliCall, settings: Settings
) -> None:
    with serve(_failing_app(settings)) as url:
        for _ in range(25):
            assert httpx.get(f"{url}/api/v1/broken").status_code == 500
        for _ in range(5):
            httpx.get(f"{url}/docs")
        result = cli("health", "health", "--json", env=_env(settings, url))
        detailed = httpx.get(f"{url}/health/detailed")
    check = result.checks()["error_rate"]
    assert check["status"] == "critical"
    assert check["details"]["error_percent"] == pytest.approx(83.33, abs=0.01)
    assert result.exit_code == 2
    in_app = {c["name"]: c for c in detailed.json()["checks"]}
    assert in_app["error_rate"]["status"] == "critical"
    assert detailed.status_code == 503


def test_a_handful_of_errors_is_too_few_to_judge(settings: Settings) -> None:
    with TestClient(_failing_app(settings)) as client:
        for _ in range(3):
            client.get("/api/v1/broken")
        checks = {c["name"]: c for c in client.get("/health/detailed").json()["checks"]}
    assert checks["error_rate"]["status"] == "ok"
    assert "too few" in checks["error_rate"]["summary"]


def test_p95_latency_above_the_threshold_is_critical(settings: Settings) -> None:
    own = settings.model_copy(update={"health_p95_seconds": 0.05, "health_min_requests": 5})
    app = create_app(own)

    def slow() -> dict[str, str]:
        time.sleep(0.06)
        return {"ok": "slowly"}

    app.add_api_route("/api/v1/slow", slow, methods=["GET"])
    with TestClient(app) as client:
        for _ in range(6):
            client.get("/api/v1/slow")
        checks = {c["name"]: c for c in client.get("/health/detailed").json()["checks"]}
    assert checks["latency_p95"]["status"] == "critical"
    assert checks["latency_p95"]["details"]["p95_seconds"] > 0.05


def test_health_without_json_prints_a_table_and_exits_by_status(
    cli: CliCall, settings: Settings, live_url: str
) -> None:
    result = cli("health", "health", env=_env(settings, live_url))
    assert "database" in result.stdout
    assert "overall: critical" in result.stdout
    assert "no backup yet" in result.stdout
    assert result.exit_code == 2


def test_a_broken_backup_repository_never_takes_health_or_metrics_down(
    settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> None:
    not_a_directory = tmp_path_factory.mktemp("repo") / "repository"
    not_a_directory.write_bytes(b"\x00 this is a file, not a repository")
    own = settings.model_copy(update={"backup_repository": str(not_a_directory)})
    with TestClient(create_app(own)) as client:
        detailed = client.get("/health/detailed")
        scrape = client.get("/metrics")
    checks = {c["name"]: c for c in detailed.json()["checks"]}
    assert checks["backup_age"]["status"] in ("critical", "unknown")
    assert checks["database"]["status"] == "ok"
    assert scrape.status_code == 200
    assert 'chairside_health_status{check="database"} 0.0' in scrape.text


def test_the_error_rate_recovers_once_a_window_of_good_traffic_has_passed(
    cli: CliCall, settings: Settings
) -> None:
    env = _env(settings, CHAIRSIDE_HEALTH_WINDOW_SECONDS="0.5")
    with serve(_failing_app(settings)) as url:
        env["CHAIRSIDE_HEALTH_API_URL"] = url
        for _ in range(25):
            httpx.get(f"{url}/api/v1/broken")
        first = cli("health", "health", "--json", env=env).checks()["error_rate"]
        time.sleep(0.6)
        for _ in range(25):
            httpx.get(f"{url}/docs")
        second = cli("health", "health", "--json", env=env).checks()["error_rate"]
    assert first["status"] == "critical"
    # Measured between the two runs (kept in health/traffic.json), not since the start.
    assert second["status"] == "ok", second
    assert second["details"]["requests"] == 25
    assert second["details"]["errors"] == 0
