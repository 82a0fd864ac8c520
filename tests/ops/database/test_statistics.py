"""``chairside db connections``, ``db slow-queries`` and ``db bloat``: the numbers come
from a real server made to show the problem each one is for."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import psycopg
import pytest

from chairside.config import Settings, load_settings
from chairside.ops.database.connection import app_database
from chairside.ops.database.statistics import install_statement_stats, preload_statement_stats
from chairside.runtime.postgres import PostgresCluster
from tests.cli.conftest import Run
from tests.ops.database.conftest import Backends
from tests.support.servers import ClusterFactory

Cli = Callable[..., Run]


@pytest.fixture(scope="module")
def small_server(cluster_factory: ClusterFactory) -> Iterator[PostgresCluster]:
    """A server of 20 connections (1 reserved) that loads pg_stat_statements, as the
    embedded cluster of `chairside up` does."""
    cluster = cluster_factory.make(start=False)
    cluster.configure({"max_connections": "20", "superuser_reserved_connections": "1"})
    preload_statement_stats(cluster, load_settings(env="test"))
    cluster.start()
    cluster.create_database("app")
    yield cluster
    cluster.stop(mode="immediate")


@pytest.fixture
def small(small_server: PostgresCluster, home: object) -> Iterator[tuple[dict[str, str], Backends]]:
    holder = Backends(small_server.conninfo("app"))
    yield {"DATABASE_URL": small_server.url("app")}, holder
    holder.close()


def test_connections_warn_past_80_percent_and_go_critical_near_the_limit(
    cli: Cli, small: tuple[dict[str, str], Backends]
) -> None:
    env, backends = small
    for _ in range(10):
        backends.connect("booking-api")
    calm = cli("db", "connections", "--json", env=env)
    assert calm.exit_code == 0, calm.stdout
    body = calm.json()
    assert body["usable"] == 19
    assert body["by_application"]["booking-api"] == 10
    for _ in range(6):  # 16 + the command's own = 17 of 19: 89%
        backends.connect("booking-api")
    warning = cli("db", "connections", "--json", env=env)
    assert warning.exit_code == 1
    assert "17 of 19" in warning.json()["checks"][0]["summary"]
    for _ in range(2):  # 18 + 1 = 19 of 19
        backends.connect("leaky-worker")
    critical = cli("db", "connections", "--json", env=env)
    assert critical.exit_code == 2
    assert critical.json()["by_application"]["leaky-worker"] == 2


def test_slow_queries_ranks_statements_and_warns_over_the_threshold(
    cli: Cli, small: tuple[dict[str, str], Backends], small_server: PostgresCluster
) -> None:
    env, backends = small
    settings = load_settings(env="test", database_url=env["DATABASE_URL"])
    with app_database(settings) as conn:
        assert install_statement_stats(conn)
    conn2 = backends.connect("reports")
    conn2.execute("SELECT pg_stat_statements_reset()")
    for _ in range(3):
        conn2.execute("SELECT pg_sleep(0.25)")
    for n in range(50):
        conn2.execute("SELECT %s::int + 1", (n,))
    slow = cli("db", "slow-queries", "--threshold-ms", "200", "--json", env=env)
    assert slow.exit_code == 1, slow.stdout
    top = slow.json()["statements"][0]
    assert "pg_sleep" in top["query"]
    assert top["calls"] == 3
    assert top["mean_ms"] >= 250
    assert "pg_sleep" in slow.json()["checks"][0]["summary"]
    by_calls = cli(
        "db",
        "slow-queries",
        "--by",
        "calls",
        "--limit",
        "1",
        "--threshold-ms",
        "200",
        "--json",
        env=env,
    )
    assert by_calls.exit_code == 1
    (busiest,) = by_calls.json()["statements"]
    assert busiest["calls"] == 50
    assert by_calls.json()["slow_count"] == 1  # the pg_sleep, though not listed
    relaxed = cli("db", "slow-queries", "--threshold-ms", "1000", "--json", env=env)
    assert relaxed.exit_code == 0


def test_slow_queries_without_the_extension_says_how_to_get_it(
    cli: Cli, settings: Settings
) -> None:
    assert settings.database_url is not None
    run = cli(
        "db",
        "slow-queries",
        "--json",
        env={"DATABASE_URL": settings.database_url.get_secret_value()},
    )
    assert run.exit_code == 3
    message = run.json()["error"]["message"]
    assert "shared_preload_libraries" in message
    assert "CREATE EXTENSION pg_stat_statements" in message


def _dead_rows_table(conninfo: str) -> None:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("CREATE TABLE visits (v int) WITH (autovacuum_enabled = false)")
        conn.execute("INSERT INTO visits SELECT generate_series(1, 5000)")
        conn.execute("DELETE FROM visits WHERE v <= 4000")
        conn.execute("CREATE TABLE tags (v int)")
        conn.execute("INSERT INTO tags VALUES (1), (1)")
        with pytest.raises(psycopg.errors.UniqueViolation):
            conn.execute("CREATE UNIQUE INDEX CONCURRENTLY tags_v ON tags (v)")
        conn.execute("SELECT pg_stat_force_next_flush()")


def _wait_for_dead_rows(cli: Cli, env: dict[str, str]) -> Run:
    deadline = time.monotonic() + 15
    while True:
        run = cli("db", "bloat", "--json", env=env)
        tables = {t["table"]: t for t in run.json().get("tables", [])}
        if tables.get("public.visits", {}).get("dead_rows", 0) >= 4000:
            return run
        assert time.monotonic() < deadline, run.stdout
        time.sleep(0.3)


def test_bloat_names_the_table_full_of_dead_rows_and_the_invalid_index(
    cli: Cli, settings: Settings
) -> None:
    assert settings.database_url is not None
    url = settings.database_url.get_secret_value()
    _dead_rows_table(url.replace("postgresql+psycopg://", "postgresql://", 1))
    run = _wait_for_dead_rows(cli, {"DATABASE_URL": url})
    assert run.exit_code == 1
    checks = {c["name"]: c for c in run.json()["checks"]}
    assert checks["dead_rows"]["status"] == "warning"
    assert "public.visits (80% of 5000)" in checks["dead_rows"]["summary"]
    assert checks["indexes"]["status"] == "warning"
    assert "public.tags_v" in checks["indexes"]["summary"]
    assert checks["xid_age"]["status"] == "ok"
    assert run.json()["invalid_indexes"][0]["index"] == "public.tags_v"


def test_an_unreachable_database_is_unknown_and_says_where(cli: Cli) -> None:
    run = cli(
        "db",
        "bloat",
        "--json",
        env={"DATABASE_URL": "postgresql+psycopg://nobody:secret@127.0.0.1:1/app"},
    )
    assert run.exit_code == 3
    message = run.json()["error"]["message"]
    assert "127.0.0.1:1" in message
    assert "secret" not in message
