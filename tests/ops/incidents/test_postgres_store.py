"""The production ops store: a PostgreSQL database of its own (CHAIRSIDE_OPS_STORE_URL)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from chairside.config import load_settings
from chairside.runtime.postgres import PostgresCluster
from tests.ops.incidents.conftest import Cli
from tests.ops.incidents.test_store import _race_to_acknowledge


@pytest.fixture
def postgres_ops_store(
    pg_cluster: PostgresCluster, monkeypatch: pytest.MonkeyPatch, home: Path
) -> Iterator[str]:
    name = f"ops_{secrets.token_hex(4)}"
    pg_cluster.create_database(name)
    url = pg_cluster.url(name)
    monkeypatch.setenv("CHAIRSIDE_OPS_STORE_URL", url)
    yield url
    with psycopg.connect(pg_cluster.conninfo(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'.encode())


def test_a_postgresql_ops_store_keeps_incidents_and_settles_races(
    cli: Cli, postgres_ops_store: str, home: Path
) -> None:
    code, body = cli("open", "--severity", "P1", "--title", "On PostgreSQL")
    assert code == 0, body
    incident_id = body["incident"]["id"]
    assert not (home / "ops.db").exists()
    winners, refused = _race_to_acknowledge(
        load_settings(home=home, ops_store_url=postgres_ops_store), incident_id
    )
    assert len(winners) == 1 and len(refused) == 3
    code, body = cli("resolve", str(incident_id), "--cause", "tested")
    assert code == 0
    code, report = cli("report", str(incident_id))
    assert [e["kind"] for e in report["timeline"]] == ["opened", "acknowledged", "resolved"]
    assert report["incident"]["opened_at"].endswith("+00:00")
