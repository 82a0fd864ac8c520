"""``chairside maintenance database`` on a real database with dead rows, an invalid index,
and a schema change holding a lock."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta

import psycopg
import pytest

from chairside.config import Settings
from chairside.ops.database.connection import app_database
from chairside.ops.database.statistics import database_health
from chairside.ops.maintenance.database import maintain_database
from chairside.ops.timeline.store import open_ops_store
from tests.cli.conftest import Run

Cli = Callable[..., Run]


def _conninfo(settings: Settings) -> str:
    assert settings.database_url is not None
    return settings.database_url.get_secret_value().replace(
        "postgresql+psycopg://", "postgresql://"
    )


def _env(settings: Settings) -> dict[str, str]:
    assert settings.database_url is not None
    return {"DATABASE_URL": settings.database_url.get_secret_value()}


@pytest.fixture
def neglected(settings: Settings) -> psycopg.Connection[tuple[object, ...]]:
    """4,000 dead rows in ``visits`` and an invalid ``tags_v`` left by a failed build."""
    conn = psycopg.connect(_conninfo(settings), autocommit=True)
    conn.execute("CREATE TABLE visits (v int) WITH (autovacuum_enabled = false)")
    conn.execute("INSERT INTO visits SELECT generate_series(1, 5000)")
    conn.execute("DELETE FROM visits WHERE v <= 4000")
    conn.execute("CREATE TABLE tags (v int)")
    conn.execute("INSERT INTO tags VALUES (1), (1)")
    with pytest.raises(psycopg.errors.UniqueViolation):
        conn.execute("CREATE UNIQUE INDEX CONCURRENTLY tags_v ON tags (v)")
    conn.execute("SELECT pg_stat_force_next_flush()")
    deadline = time.monotonic() + 15
    while _dead_rows(conn, "visits") < 4000:
        assert time.monotonic() < deadline, "the statistics never showed the dead rows"
        time.sleep(0.2)
    yield conn
    conn.close()


def _dead_rows(conn: psycopg.Connection[tuple[object, ...]], table: str) -> int:
    with psycopg.connect(conn.info.dsn, password=conn.info.password, autocommit=True) as fresh:
        row = fresh.execute(
            "SELECT n_dead_tup FROM pg_stat_user_tables WHERE relname = %s", (table,)
        ).fetchone()
    return int(row[0]) if row else 0  # type: ignore[call-overload]


def _index_valid(conn: psycopg.Connection[tuple[object, ...]], name: str) -> bool | None:
    row = conn.execute(
        "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
        " WHERE c.relname = %s",
        (name,),
    ).fetchone()
    return None if row is None else bool(row[0])


def test_maintenance_clears_dead_rows_and_rebuilds_the_invalid_index(
    cli: Cli, settings: Settings, neglected: psycopg.Connection[tuple[object, ...]]
) -> None:
    neglected.execute("DELETE FROM tags WHERE ctid = (SELECT max(ctid) FROM tags)")  # fix the cause
    run = cli("maintenance", "database", "--json", env=_env(settings))
    assert run.exit_code == 0, run.stdout
    details = run.json()["checks"][0]["details"]
    assert "public.visits" in details["vacuumed"]
    assert details["reindexed"] == ["public.tags_v"]
    assert details["dead_rows_before"] >= 4000
    assert details["dead_rows_after"] < 100
    assert _index_valid(neglected, "tags_v") is True
    assert _dead_rows(neglected, "visits") == 0
    after = cli("db", "bloat", "--json", env=_env(settings)).json()
    assert {c["name"]: c["status"] for c in after["checks"]} == {
        "dead_rows": "ok",
        "xid_age": "ok",
        "indexes": "ok",
    }
    (event,) = open_ops_store(settings).recent(kind_prefix="maintenance.")
    assert event.kind == "maintenance.database"
    assert event.status == "ok"


def test_a_rebuild_that_fails_is_critical_and_leaves_no_invalid_copy_behind(
    cli: Cli, settings: Settings, neglected: psycopg.Connection[tuple[object, ...]]
) -> None:
    run = cli("maintenance", "database", "--json", env=_env(settings))
    assert run.exit_code == 2, run.stdout
    check = run.json()["checks"][0]
    assert "public.tags_v" in check["details"]["failed"]
    assert "could not create unique index" in check["details"]["failed"]["public.tags_v"]
    leftovers = neglected.execute(
        "SELECT relname FROM pg_class WHERE relname LIKE 'tags_v_cc%'"
    ).fetchall()
    assert leftovers == []
    assert "public.visits" in check["details"]["vacuumed"]  # the rest still ran
    (event,) = open_ops_store(settings).recent(kind_prefix="maintenance.")
    assert event.status == "critical"


def test_a_table_locked_by_a_schema_change_is_skipped_not_queued_behind(
    settings: Settings, neglected: psycopg.Connection[tuple[object, ...]]
) -> None:
    with psycopg.connect(_conninfo(settings)) as migration:
        migration.execute("LOCK TABLE visits IN ACCESS EXCLUSIVE MODE")
        result = maintain_database(settings, lock_timeout=timedelta(milliseconds=300))
        with app_database(settings) as conn:  # the diagnosis answers during the migration too
            assert "public.visits" in [t.name for t in database_health(conn).tables]
        migration.rollback()
    assert "public.visits" in result.skipped
    assert "could not lock it within" in result.skipped["public.visits"]
    assert "public.tags" in result.vacuumed
    (check,) = result.checks()
    assert check.status.value == "critical"  # tags_v still cannot be rebuilt (duplicates)
    assert "skipped (locked by other work, retried next run): public.visits" in check.summary


def test_a_dry_run_plans_and_changes_nothing(
    cli: Cli, settings: Settings, neglected: psycopg.Connection[tuple[object, ...]]
) -> None:
    run = cli("maintenance", "database", "--dry-run", "--json", env=_env(settings))
    assert run.exit_code == 0, run.stdout
    details = run.json()["checks"][0]["details"]
    assert "public.visits" in details["planned_tables"]
    assert details["planned_indexes"] == ["public.tags_v"]
    assert details["vacuumed"] == []
    assert _index_valid(neglected, "tags_v") is False
    assert _dead_rows(neglected, "visits") >= 4000
    assert open_ops_store(settings).recent(kind_prefix="maintenance.") == []


def test_reindex_all_defers_the_exclusion_index_outside_a_window_and_rebuilds_it_in_one(
    cli: Cli, settings: Settings
) -> None:
    with psycopg.connect(_conninfo(settings), autocommit=True) as conn:
        # Like the bookings' no-double-booking constraint: REINDEX CONCURRENTLY refuses it.
        conn.execute("CREATE TABLE chairs (seat int4range, EXCLUDE USING gist (seat WITH &&))")
        conn.execute("INSERT INTO chairs VALUES ('[1,3)'), ('[3,5)')")
        (index,) = conn.execute(
            "SELECT format('%I.%I', n.nspname, c.relname) FROM pg_constraint x"
            " JOIN pg_class c ON c.oid = x.conindid JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE x.contype = 'x' AND x.conrelid = 'chairs'::regclass"
        ).fetchone()  # type: ignore[misc]
    run = cli("maintenance", "database", "--reindex-all", "--json", env=_env(settings))
    assert run.exit_code == 0, run.stdout
    check = run.json()["checks"][0]
    assert index in check["details"]["deferred"]
    assert index not in check["details"]["failed"] and check["details"]["failed"] == {}
    assert "left for a maintenance window" in check["summary"]

    assert cli("maintenance-mode", "on", "--reason", "monthly reindex",
               env=_env(settings)).exit_code == 0  # fmt: skip
    windowed = cli("maintenance", "database", "--reindex-all", "--json", env=_env(settings))
    assert windowed.exit_code == 0, windowed.stdout
    details = windowed.json()["checks"][0]["details"]
    assert index in details["reindexed"] and details["deferred"] == {}
