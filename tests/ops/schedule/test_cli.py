"""``chairside schedule list|run|export`` through the real CLI, database and ops store."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from croniter import croniter
from typer.testing import CliRunner

from chairside.cli.main import app
from chairside.config import Settings, get_settings
from chairside.ops.schedule.leader import leader_lock
from chairside.ops.timeline.store import open_ops_store


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> Iterator[Settings]:
    assert settings.database_url is not None
    monkeypatch.setenv("CHAIRSIDE_HOME", str(settings.home))
    monkeypatch.setenv("DATABASE_URL", settings.database_url.get_secret_value())
    if settings.redis_url is not None:
        monkeypatch.setenv("REDIS_URL", settings.redis_url.get_secret_value())
    monkeypatch.delenv("CHAIRSIDE_DR_REPOSITORIES", raising=False)
    get_settings.cache_clear()
    yield settings
    get_settings.cache_clear()


def _invoke(*args: str) -> tuple[int, Any]:
    result = CliRunner().invoke(app, ["schedule", *args, "--json"], catch_exceptions=False)
    return result.exit_code, json.loads(result.stdout)


def test_list_shows_every_job_never_run_and_due(cli_env: Settings) -> None:
    code, body = _invoke("list")
    assert code == 0
    names = [job["name"] for job in body["jobs"]]
    assert names[:3] == ["health", "expire-holds", "backup-incremental"]
    assert {"backup-full", "maintenance-full", "security-audit", "drill"} <= set(names)
    assert "backup-sync" not in names  # no DR repository configured
    health = body["jobs"][0]
    assert health["cadence"] == "*/15 * * * *"
    assert health["command"] == ["health", "--notify"]
    assert health["last_run"] is None
    assert health["due"] is True


def test_a_configured_dr_repository_adds_an_hourly_sync_to_it(
    cli_env: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHAIRSIDE_DR_REPOSITORIES", "s3://dr/chairside")
    get_settings.cache_clear()
    code, body = _invoke("list")
    assert code == 0
    sync = next(job for job in body["jobs"] if job["name"] == "backup-sync")
    assert sync["command"][:5] == ["backup", "sync", "incremental", "--to", "s3://dr/chairside"]
    assert sync["cadence"] == "20 * * * *"


def test_run_once_job_force_runs_it_now_and_list_shows_the_run(cli_env: Settings) -> None:
    code, body = _invoke("run", "--once", "--job", "expire-holds", "--force")
    assert code == 0, body
    assert body["leader"] is True
    (run,) = body["runs"]
    assert run["job"] == "expire-holds"
    assert run["exit_code"] == 0, run["output_tail"]
    code, listing = _invoke("list")
    job = next(j for j in listing["jobs"] if j["name"] == "expire-holds")
    assert job["last_run"]["status"] == "ok"
    assert job["due"] is False
    assert croniter.match("*/5 * * * *", datetime.fromisoformat(job["next_due"]))
    event = open_ops_store(cli_env).recent(kind_prefix="schedule.expire-holds")[0]
    assert event.details["argv"] == ["bookings", "expire-holds"]


def test_a_dry_run_names_the_due_jobs_and_runs_none(cli_env: Settings) -> None:
    code, body = _invoke("run", "--once", "--dry-run")
    assert code == 0
    assert body["dry_run"] is True
    assert "health" in body["due"]
    assert body["runs"] == []
    assert open_ops_store(cli_env).recent(kind_prefix="schedule.") == []


def test_run_once_exits_3_while_another_scheduler_leads(cli_env: Settings) -> None:
    other = leader_lock(cli_env)
    assert other.try_acquire()
    try:
        code, body = _invoke("run", "--once")
    finally:
        other.release()
    assert code == 3
    assert body["leader"] is False
    assert "advisory lock" in body["lock"]
    assert open_ops_store(cli_env).recent(kind_prefix="schedule.") == []


def test_an_unknown_job_is_refused_listing_the_jobs(cli_env: Settings) -> None:
    code, body = _invoke("run", "--once", "--job", "backups")
    assert code == 2
    assert "'backups'" in body["error"]["message"]
    assert "backup-full" in body["error"]["message"]


def test_export_writes_a_crontab_and_systemd_units_into_the_output_directory(
    cli_env: Settings, tmp_path: Path
) -> None:
    code, body = _invoke("export", "--format", "crontab", "--output", str(tmp_path / "cron"))
    assert code == 0
    crontab = (tmp_path / "cron" / "chairside.crontab").read_text()
    assert "schedule run --once --job health" in crontab
    code, body = _invoke("export", "--format", "systemd", "--output", str(tmp_path / "sd"))
    assert code == 0
    assert body["skipped"] == {}
    assert (tmp_path / "sd" / "chairside-maintenance-full.timer").read_text().count(
        "OnCalendar=Sun *-*-* 02:00:00 UTC"
    ) == 1
    assert len(list((tmp_path / "sd").glob("*.service"))) == len(
        list((tmp_path / "sd").glob("*.timer"))
    )
