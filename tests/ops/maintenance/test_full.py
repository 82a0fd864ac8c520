"""``chairside maintenance full``: the weekly job runs every step, reviews, and reports;
a database that is down fails its steps and not the others."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from chairside.config import Settings, load_settings
from chairside.ops.timeline.store import open_ops_store
from tests.cli.conftest import Run

Cli = Callable[..., Run]


def test_the_weekly_job_runs_every_step_and_a_missing_backup_is_critical(
    cli: Cli, settings: Settings, home: Path
) -> None:
    assert settings.database_url is not None
    run = cli(
        "maintenance", "--json", env={"DATABASE_URL": settings.database_url.get_secret_value()}
    )
    body = run.json()
    names = [c["name"] for c in body["checks"]]
    assert names == [
        "logs", "disk", "debris", "restored_copies", "database",
        "dead_rows", "xid_age", "indexes", "connections", "slow_queries",
        "backups",
    ]  # fmt: skip
    statuses = {c["name"]: c["status"] for c in body["checks"]}
    assert statuses["database"] == "ok"
    assert statuses["backups"] == "critical"
    assert "take a backup first" in body["checks"][-1]["summary"]
    assert body["kind"] == "full"
    assert body["status"] == "critical"
    assert run.exit_code == 2
    (event,) = open_ops_store(load_settings(home=home)).recent(kind_prefix="maintenance.")
    assert event.kind == "maintenance.full"
    assert event.details["checks"] == body["checks"]


def test_with_the_database_down_logs_are_still_rotated_and_the_run_is_critical(
    cli: Cli, home: Path
) -> None:
    logs = home / "log"
    logs.mkdir(parents=True)
    (logs / "postgresql.log").write_bytes(b"FATAL: the database system is shutting down\n" * 50_000)
    run = cli(
        "maintenance",
        "--log-max-mb",
        "1",
        "--json",
        env={"DATABASE_URL": "postgresql+psycopg://chairside:pw@127.0.0.1:1/chairside"},
    )
    assert run.exit_code == 2, run.stdout
    checks = {c["name"]: c for c in run.json()["checks"]}
    assert checks["logs"]["status"] == "ok"
    assert len(checks["logs"]["details"]["rotated"]) == 1
    assert (logs / "postgresql.log").stat().st_size == 0
    assert checks["database"]["status"] == "critical"
    assert "cannot reach the database at" in checks["database"]["summary"]
    assert checks["review"]["status"] == "critical"
    (event,) = open_ops_store(load_settings(home=home)).recent(kind_prefix="maintenance.")
    assert event.status == "critical"
