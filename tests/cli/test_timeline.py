"""``chairside timeline``, and the ops commands that now record who did what on it."""

from __future__ import annotations

import os
import pwd
import socket
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from chairside.config import load_settings
from chairside.ops.database.migrations import head_revision
from chairside.ops.timeline.cli import parse_since
from chairside.ops.timeline.store import current_actor, open_ops_store
from tests.cli.conftest import Run


def test_maintenance_mode_switches_are_on_the_timeline_with_who_and_why(
    cli: Callable[..., Run],
) -> None:
    cli("maintenance-mode", "on", "--reason", "disk swap", "--json")
    cli("maintenance-mode", "on", "--read-only", "--json")
    cli("maintenance-mode", "off", "--json")
    events = cli("timeline", "--json").json()["events"]
    assert [e["kind"] for e in events] == ["modes.on", "modes.on", "modes.off"]
    assert events[0]["summary"].startswith("maintenance mode on: disk swap")
    assert events[1]["details"]["mode"] == "read_only"
    assert events[0]["actor"] == current_actor()
    assert events[2]["details"]["before"]["maintenance"] is True


def test_timeline_filters_by_kind_prefix_and_since(cli: Callable[..., Run], home: Path) -> None:
    store = open_ops_store(load_settings(home=home))
    store.record("backup.full", "full backup 1")
    store.record("deploy.start", "deploy 1.4.0")
    store.record("backup.incremental", "WAL switched")
    only_backups = cli("timeline", "--kind", "backup", "--json").json()["events"]
    assert [e["summary"] for e in only_backups] == ["full backup 1", "WAL switched"]
    assert cli("timeline", "--since", "1h", "--json").json()["events"][0]["kind"] == "backup.full"
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert cli("timeline", "--since", future, "--json").json()["events"] == []
    bad = cli("timeline", "--since", "last tuesday", "--json")
    assert bad.exit_code == 2
    assert "'last tuesday'" in bad.json()["error"]["message"]
    human = cli("timeline", "--limit", "2")
    assert "deploy.start" in human.stdout and "backup.full" not in human.stdout


def test_since_reads_durations_and_iso_times() -> None:
    now = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
    assert parse_since("90m", now=now) == now - timedelta(minutes=90)
    assert parse_since("2026-12-06T08:00:00Z", now=now) == datetime(2026, 12, 6, 8, tzinfo=UTC)
    assert parse_since("2026-12-06 08:00", now=now) == datetime(2026, 12, 6, 8, tzinfo=UTC)


def test_the_actor_is_the_effective_user_when_user_is_unset(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("USER", raising=False)
    monkeypatch.delenv("SUDO_USER", raising=False)
    name = pwd.getpwuid(os.geteuid()).pw_name
    assert current_actor() == f"{name}@{socket.gethostname()}"


def test_db_migrate_to_an_older_revision_refuses_with_exit_2_and_changes_nothing(
    cli: Callable[..., Run], database_url: str
) -> None:
    env = {"DATABASE_URL": database_url}
    result = cli("db", "migrate", "0001", "--json", env=env)
    assert result.exit_code == 2
    message = result.json()["error"]["message"]
    assert "'0001' is older than the database's" in message
    assert "deploy rollback" in message
    assert cli("db", "current", "--json", env=env).json()["current"] == head_revision()
    assert cli("db", "migrate", head_revision(), "--json", env=env).exit_code == 0


def test_security_audit_is_on_the_timeline(cli: Callable[..., Run]) -> None:
    audit = cli("security", "audit", "config", "--json")
    assert audit.exit_code in (0, 1, 2)
    events = cli("timeline", "--kind", "security.audit", "--json").json()["events"]
    assert len(events) == 1
    assert events[0]["status"] == audit.json()["status"]
    assert events[0]["details"]["area"] == "config"
