"""``chairside db long-running`` and ``db kill-long-running`` on a real server: what is
listed, what is stopped, and what must be left alone."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta

import psycopg
import pytest

from chairside.config import Settings
from chairside.errors import GuardRefusedError
from chairside.ops.database import activity
from chairside.ops.timeline.store import open_ops_store
from tests.cli.conftest import Run
from tests.ops.database.conftest import Backends

Cli = Callable[..., Run]


def _env(settings: Settings) -> dict[str, str]:
    assert settings.database_url is not None
    return {"DATABASE_URL": settings.database_url.get_secret_value()}


def test_a_query_busy_past_the_limit_is_listed_and_a_young_one_is_not(
    cli: Cli, settings: Settings, backends: Backends
) -> None:
    sleeper = backends.sleeper()
    time.sleep(1.2)
    listed = cli("db", "long-running", "--older-than", "1s", "--json", env=_env(settings))
    assert listed.exit_code == 1, listed.stdout
    body = listed.json()
    assert body["status"] == "warning"
    (query,) = [q for q in body["queries"] if q["pid"] == sleeper.pid]
    assert query["state"] == "active"
    assert "pg_sleep" in query["query"]
    assert query["age_seconds"] >= 1
    quiet = cli("db", "long-running", "--older-than", "1h", "--json", env=_env(settings))
    assert quiet.exit_code == 0
    assert quiet.json()["queries"] == []


def test_a_transaction_left_open_counts_from_its_start_not_its_last_statement(
    cli: Cli, settings: Settings, backends: Backends
) -> None:
    idle = backends.connect("forgot-to-commit")
    idle.execute("BEGIN")
    idle.execute("SELECT 1")
    time.sleep(1.2)
    idle.execute("SELECT 2")  # a fresh statement: its query_start is now, its xact is not
    body = cli("db", "long-running", "--older-than", "1s", "--json", env=_env(settings)).json()
    (query,) = [q for q in body["queries"] if q["pid"] == idle.info.backend_pid]
    assert query["state"] == "idle in transaction"
    assert query["application"] == "forgot-to-commit"


def test_kill_long_running_ends_the_runaway_and_spares_idle_sessions(
    cli: Cli, settings: Settings, backends: Backends, home: object
) -> None:
    sleeper = backends.sleeper()
    bystander = backends.connect("idle-pool")
    time.sleep(1.2)
    run = cli(
        "db", "kill-long-running", "--older-than", "1s", "--yes", "--json", env=_env(settings)
    )
    assert run.exit_code == 0, run.stdout
    body = run.json()
    assert body["stopped"] == [sleeper.pid]
    assert sleeper.thread is not None
    sleeper.thread.join(5)
    assert isinstance(sleeper.errors[0], psycopg.OperationalError)
    assert backends.state(sleeper.pid) is None
    assert bystander.execute("SELECT 42").fetchone() == (42,)
    (event,) = open_ops_store(settings).recent(kind_prefix="db.kill")
    assert event.details["stopped"] == [sleeper.pid]
    assert "pg_sleep" in event.details["targets"][0]["query"]


def test_cancel_stops_the_statement_and_keeps_the_session(
    cli: Cli, settings: Settings, backends: Backends
) -> None:
    sleeper = backends.sleeper()
    time.sleep(1.2)
    run = cli(
        "db",
        "kill-long-running",
        "--older-than",
        "1s",
        "--cancel",
        "--yes",
        "--json",
        env=_env(settings),
    )
    assert run.json()["stopped"] == [sleeper.pid]
    assert sleeper.thread is not None
    sleeper.thread.join(5)
    assert isinstance(sleeper.errors[0], psycopg.errors.QueryCanceled)
    assert sleeper.conn.execute("SELECT 1").fetchone() == (1,)


def test_without_yes_off_a_terminal_nothing_is_stopped(
    cli: Cli, settings: Settings, backends: Backends
) -> None:
    sleeper = backends.sleeper()
    time.sleep(1.2)
    refused = cli("db", "kill-long-running", "--older-than", "1s", "--json", env=_env(settings))
    assert refused.exit_code == 3
    assert "--yes" in refused.json()["error"]["message"]
    dry = cli(
        "db",
        "kill-long-running",
        "--older-than",
        "1s",
        "--dry-run",
        "--json",
        env=_env(settings),
    )
    assert dry.exit_code == 0
    assert [q["pid"] for q in dry.json()["targets"]] == [sleeper.pid]
    assert dry.json()["stopped"] == []
    assert backends.state(sleeper.pid) == "active"
    assert open_ops_store(settings).recent(kind_prefix="db.kill") == []


def test_a_running_pg_dump_is_left_alone_unless_asked(
    cli: Cli, settings: Settings, backends: Backends
) -> None:
    dump = backends.sleeper(application="pg_dump")
    time.sleep(1.2)
    body = cli(
        "db", "kill-long-running", "--older-than", "1s", "--yes", "--json", env=_env(settings)
    ).json()
    assert body["stopped"] == []
    assert [q["pid"] for q in body["protected"]] == [dump.pid]
    assert backends.state(dump.pid) == "active"
    forced = cli(
        "db",
        "kill-long-running",
        "--older-than",
        "1s",
        "--include-backups",
        "--yes",
        "--json",
        env=_env(settings),
    ).json()
    assert forced["stopped"] == [dump.pid]


def test_a_backend_that_moved_on_before_the_kill_is_not_killed(
    settings: Settings, backends: Backends
) -> None:
    # The race: the plan sees a runaway statement; before the operator says yes, that
    # statement ends and the same session starts its next one. The next one is not the
    # runaway and must survive.
    sleeper = backends.sleeper(again=True)
    time.sleep(1.2)

    def operator_hesitates(plan: activity.KillReport) -> None:
        assert [q.pid for q in plan.targets] == [sleeper.pid]
        with psycopg.connect(backends.conninfo, autocommit=True) as admin:
            admin.execute("SELECT pg_cancel_backend(%s)", (sleeper.pid,))
        backends.wait_for(
            lambda: sleeper.statements == 2 and backends.state(sleeper.pid) == "active"
        )

    report = activity.kill_long_running(
        settings, older_than=timedelta(seconds=1), confirm=operator_hesitates
    )
    assert report.stopped == []
    assert report.gone == [sleeper.pid]
    assert backends.state(sleeper.pid) == "active"


def test_a_second_kill_while_one_runs_is_refused(settings: Settings, backends: Backends) -> None:
    backends.sleeper()
    time.sleep(1.2)

    def meanwhile(plan: activity.KillReport) -> None:
        with pytest.raises(GuardRefusedError, match="db-kill"):
            activity.kill_long_running(settings, older_than=timedelta(seconds=1))
        raise GuardRefusedError("the operator said no")

    with pytest.raises(GuardRefusedError, match="operator said no"):
        activity.kill_long_running(settings, older_than=timedelta(seconds=1), confirm=meanwhile)


@pytest.mark.parametrize("bad", ["10", "ten minutes", "0s", "8d"])
def test_a_bad_age_is_refused_naming_it(cli: Cli, settings: Settings, bad: str) -> None:
    run = cli("db", "kill-long-running", "--older-than", bad, "--yes", "--json", env=_env(settings))
    assert run.exit_code == 2
    error = run.json()["error"]
    assert bad in error["message"]
    assert error["field"] == "--older-than"
