"""Incidents live in the ops store: not in the application database, safe under concurrency."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect

from chairside.config import Settings, load_settings
from chairside.errors import ConflictError
from chairside.ops.incidents import service
from tests.ops.incidents.conftest import Cli


def test_an_incident_is_readable_with_the_app_database_unreachable(
    cli: Cli, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What a point-in-time restore of the app database cannot rewind: nothing of the
    # incident is read from or written to it.
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://nobody@127.0.0.1:1/gone")
    code, body = cli("open", "--severity", "P1", "--title", "Database restored to 02:00")
    assert code == 0, body
    incident_id = str(body["incident"]["id"])
    assert cli("ack", incident_id)[0] == 0
    code, shown = cli("show", incident_id)
    assert code == 0
    assert shown["title"] == "Database restored to 02:00"
    assert shown["status"] == "acknowledged"
    tables = inspect(create_engine(f"sqlite:///{home / 'ops.db'}")).get_table_names()
    assert {"incidents", "incident_entries", "ops_events"} <= set(tables)


def test_incidents_follow_the_configured_ops_store_url(
    cli: Cli, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "ops-elsewhere.db"
    monkeypatch.setenv("CHAIRSIDE_OPS_STORE_URL", f"sqlite:///{elsewhere}")
    code, body = cli("open", "--severity", "P4", "--title", "Stored elsewhere")
    assert code == 0
    assert not (home / "ops.db").exists()
    with create_engine(f"sqlite:///{elsewhere}").connect() as connection:
        titles = connection.exec_driver_sql("SELECT title FROM incidents").scalars().all()
    assert titles == ["Stored elsewhere"]


def test_incidents_opened_at_once_get_distinct_ids(settings: Settings) -> None:
    service.open_incident(settings, severity="P4", title="first")
    ids: list[int] = []
    failures: list[BaseException] = []
    start = threading.Barrier(8)

    def open_one(n: int) -> None:
        start.wait()
        try:
            own = load_settings(home=settings.home)
            ids.append(service.open_incident(own, severity="P3", title=f"n{n}").incident.id)
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(exc)

    threads = [threading.Thread(target=open_one, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert sorted(ids) == list(range(2, 10))
    listed = service.list_incidents(settings)
    assert sorted(i.title for i in listed) == ["first", *(f"n{n}" for n in range(8))]


def _race_to_acknowledge(settings: Settings, incident_id: int) -> tuple[list[str], list[str]]:
    """Four operators acknowledge at the same moment: who won, what the others were told."""
    winners: list[str] = []
    refused: list[str] = []
    start = threading.Barrier(4)

    def ack(who: str) -> None:
        start.wait()
        try:
            service.acknowledge(settings, incident_id=incident_id, by=who)
            winners.append(who)
        except ConflictError as exc:
            refused.append(exc.message)

    threads = [threading.Thread(target=ack, args=(f"op{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return winners, refused


def test_two_operators_acknowledging_at_once_are_told_one_of_them_won(
    settings: Settings,
) -> None:
    for _ in range(5):
        incident_id = service.open_incident(settings, severity="P1", title="race").incident.id
        winners, refused = _race_to_acknowledge(settings, incident_id)
        assert len(winners) == 1, (winners, refused)
        assert len(refused) == 3
        for message in refused:
            assert f"incident {incident_id}" in message
            assert "acknowledged" in message and "acknowledging" in message
        incident = service.get_incident(settings, incident_id=incident_id)
        assert incident.acknowledged_by == winners[0]
        assert [e.kind.value for e in incident.entries] == ["opened", "acknowledged"]


def _note_while_acknowledging(settings: Settings, incident_id: int) -> list[BaseException]:
    """One operator acknowledges while four others add notes, all at once."""
    failures: list[BaseException] = []
    start = threading.Barrier(5)

    def step(n: int) -> None:
        start.wait()
        try:
            if n == 0:
                service.acknowledge(settings, incident_id=incident_id, by="lead")
            else:
                service.add_note(settings, incident_id=incident_id, text=f"finding {n}")
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            failures.append(exc)

    threads = [threading.Thread(target=step, args=(n,)) for n in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return failures


def test_notes_written_while_someone_acknowledges_are_all_kept(settings: Settings) -> None:
    for _ in range(5):
        incident_id = service.open_incident(settings, severity="P2", title="busy").incident.id
        assert _note_while_acknowledging(settings, incident_id) == []
        incident = service.get_incident(settings, incident_id=incident_id)
        assert incident.status.value == "acknowledged"
        assert sorted(e.text for e in incident.entries if e.kind.value == "note") == [
            f"finding {n}" for n in range(1, 5)
        ]
