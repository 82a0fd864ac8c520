"""``chairside health smoke``: the canary booking flow against a running app."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text

from chairside.api.app import create_app
from chairside.config import Settings
from chairside.db import normalize_url
from chairside.runtime.ports import free_port
from tests.booking.world import fast_settings
from tests.ops.health.conftest import CliCall
from tests.ops.health.live import serve

FLOW = ["register", "setup", "search", "availability", "book", "pay", "cancel", "refund"]


@pytest.fixture
def live_url(settings: Settings) -> Iterator[str]:
    with serve(create_app(fast_settings(settings))) as url:
        yield url


def _env(settings: Settings, url: str, **extra: str) -> dict[str, str]:
    assert settings.database_url is not None
    return {
        "DATABASE_URL": settings.database_url.get_secret_value(),
        "CHAIRSIDE_HEALTH_API_URL": url,
        **extra,
    }


def _rows(settings: Settings, table: str) -> int:
    assert settings.database_url is not None
    engine = create_engine(normalize_url(settings.database_url.get_secret_value()))
    try:
        with engine.connect() as conn:
            return int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())
    finally:
        engine.dispose()


def test_smoke_passes_against_a_running_app_and_leaves_nothing_behind(
    cli: CliCall, settings: Settings, live_url: str
) -> None:
    result = cli("health", "smoke", "--json", env=_env(settings, live_url))
    assert result.exit_code == 0, result.stdout
    steps = {s["name"]: s for s in result.json()["smoke"]}
    assert list(steps) == [*FLOW, "cleanup"]
    assert all(s["status"] == "ok" for s in steps.values()), steps
    assert all(s["latency_ms"] > 0 for s in steps.values())
    assert "refunded 100" in steps["refund"]["summary"]
    for table in ("users", "shops", "bookings", "payments", "refunds", "audit_log"):
        assert _rows(settings, table) == 0, f"canary rows left in {table}"
    smoke_file = settings.home / "health" / "smoke.json"
    assert '"status": "ok"' in smoke_file.read_text()


def test_a_declining_card_fails_the_pay_step_and_the_canary_is_still_removed(
    cli: CliCall, settings: Settings, live_url: str
) -> None:
    env = _env(settings, live_url, CHAIRSIDE_SMOKE_CARD="4000000000000002")
    result = cli("health", "smoke", "--json", env=env)
    assert result.exit_code == 2
    steps = {s["name"]: s for s in result.json()["smoke"]}
    assert [steps[n]["status"] for n in FLOW[:5]] == ["ok"] * 5
    assert steps["pay"]["status"] == "critical"
    assert "402" in steps["pay"]["summary"]
    assert "declined" in steps["pay"]["summary"]
    assert steps["cancel"]["status"] == "unknown"
    assert "not run: pay failed" in steps["cancel"]["summary"]
    assert steps["cleanup"]["status"] == "ok"
    for table in ("users", "bookings", "payments", "audit_log"):
        assert _rows(settings, table) == 0, f"canary rows left in {table}"


def test_an_api_that_is_not_there_fails_the_first_step(cli: CliCall, settings: Settings) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = cli("health", "smoke", "--json", env=_env(settings, url))
    assert result.exit_code == 2
    steps = {s["name"]: s for s in result.json()["smoke"]}
    assert steps["register"]["status"] == "critical"
    assert "no answer" in steps["register"]["summary"]
    assert steps["cleanup"]["status"] == "ok"


def test_health_all_runs_the_components_and_the_smoke_test(
    cli: CliCall, settings: Settings, live_url: str
) -> None:
    body = cli("health", "all", "--json", env=_env(settings, live_url)).json()
    assert body["kind"] == "all"
    assert {c["name"] for c in body["health"]} >= {"api", "database", "redis", "disk"}
    assert [s["name"] for s in body["smoke"]] == [*FLOW, "cleanup"]
    assert len(body["checks"]) == len(body["health"]) + len(body["smoke"])
