"""``chairside status`` and ``chairside db``: JSON fields and exit codes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import psycopg

from chairside.ops.database.migrations import head_revision
from chairside.runtime.ports import free_port
from chairside.runtime.postgres import PostgresCluster
from tests.cli.conftest import Run


def test_status_is_critical_with_exit_2_when_the_api_is_not_running(
    cli: Callable[..., Run], database_url: str, redis_url: str
) -> None:
    result = cli("status", "--json", env={"DATABASE_URL": database_url, "REDIS_URL": redis_url})
    assert result.exit_code == 2
    body = result.json()
    checks = {c["name"]: c for c in body["checks"]}
    assert body["status"] == "critical"
    assert checks["postgres"]["status"] == "ok"
    assert checks["migrations"]["details"]["current"] == head_revision()
    assert checks["redis"]["status"] == "ok"
    assert checks["api"]["status"] == "critical"


def test_status_reports_an_unreachable_database_as_critical(cli: Callable[..., Run]) -> None:
    dead = f"postgresql://postgres:x@127.0.0.1:{free_port()}/nope"
    result = cli("status", "--json", env={"DATABASE_URL": dead})
    assert result.exit_code == 2
    checks = {c["name"]: c for c in result.json()["checks"]}
    assert checks["postgres"]["status"] == "critical"
    assert "migrations" not in checks


def test_status_warns_about_pending_migrations(
    cli: Callable[..., Run], pg_cluster: PostgresCluster
) -> None:
    pg_cluster.create_database("unmigrated_status")
    try:
        result = cli("status", "--json", env={"DATABASE_URL": pg_cluster.url("unmigrated_status")})
        checks = {c["name"]: c for c in result.json()["checks"]}
        assert checks["migrations"]["status"] == "warning"
        assert "chairside db migrate" in checks["migrations"]["summary"]
    finally:
        _drop(pg_cluster, "unmigrated_status")


def test_status_without_an_embedded_cluster_says_how_to_create_one_and_writes_nothing(
    cli: Callable[..., Run], home: Path
) -> None:
    result = cli("status", "--json")
    assert result.exit_code == 2
    checks = {c["name"]: c for c in result.json()["checks"]}
    assert checks["postgres"]["status"] == "critical"
    assert "chairside up" in checks["postgres"]["summary"]
    assert not (home / "runtime.json").exists()
    assert not (home / "secrets").exists()


def test_db_migrate_then_current_and_history(
    cli: Callable[..., Run], pg_cluster: PostgresCluster
) -> None:
    pg_cluster.create_database("migrate_cli")
    env = {"DATABASE_URL": pg_cluster.url("migrate_cli")}
    try:
        before = cli("db", "current", "--json", env=env).json()
        assert before["current"] is None and before["up_to_date"] is False
        migrated = cli("db", "migrate", "--json", env=env)
        assert migrated.exit_code == 0
        assert migrated.json() == {"before": None, "after": head_revision(), "changed": True}
        assert cli("db", "migrate", "--json", env=env).json()["changed"] is False
        history = cli("db", "history", "--json", env=env).json()["revisions"]
        assert history[0]["revision"] == "0001"
        assert all(r["applied"] for r in history)
    finally:
        _drop(pg_cluster, "migrate_cli")


def test_db_migrate_to_an_unknown_revision_is_bad_input_with_exit_2(
    cli: Callable[..., Run], database_url: str
) -> None:
    result = cli("db", "migrate", "nope", "--json", env={"DATABASE_URL": database_url})
    assert result.exit_code == 2
    error = result.json()["error"]
    assert "'nope'" in error["message"] and "0001" in error["message"]


def test_a_malformed_setting_is_named_with_exit_2(cli: Callable[..., Run]) -> None:
    result = cli("db", "current", "--json", env={"CHAIRSIDE_PG_PORT": "eighty"})
    assert result.exit_code == 2
    assert "CHAIRSIDE_PG_PORT='eighty'" in result.json()["error"]["message"]


def test_a_non_postgres_database_url_is_refused(cli: Callable[..., Run]) -> None:
    result = cli("db", "current", "--json", env={"DATABASE_URL": "mysql://u:p@h/db"})
    assert result.exit_code == 2
    assert "only PostgreSQL" in result.json()["error"]["message"]


def test_maintenance_mode_switches_and_status_warns(
    cli: Callable[..., Run], database_url: str
) -> None:
    env = {"DATABASE_URL": database_url}
    on = cli("maintenance-mode", "on", "--reason", "disk swap", "--json", env=env).json()
    assert on["maintenance"] is True and on["reason"] == "disk swap"
    checks = {c["name"]: c for c in cli("status", "--json", env=env).json()["checks"]}
    assert checks["modes"]["status"] == "warning"
    off = cli("maintenance-mode", "off", "--json", env=env).json()
    assert off["maintenance"] is False


def _drop(cluster: PostgresCluster, name: str) -> None:
    with psycopg.connect(cluster.conninfo(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'.encode())
