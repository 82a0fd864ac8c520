"""``chairside bookings expire-holds`` and ``chairside bookings check`` on a real database."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from chairside.cli.main import app
from chairside.config import get_settings
from tests.booking.world import book, expire_hold, future_day, local, make_shop, register, sql


def _run(
    monkeypatch: pytest.MonkeyPatch, home: Path, database_url: str, *args: str
) -> tuple[int, dict[str, object]]:
    monkeypatch.setenv("CHAIRSIDE_HOME", str(home))
    monkeypatch.setenv("DATABASE_URL", database_url)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["bookings", *args, "--json"], catch_exceptions=False)
    finally:
        get_settings.cache_clear()
    return result.exit_code, json.loads(result.stdout)


def test_expire_holds_previews_with_dry_run_then_expires_and_records_an_event(
    client: TestClient, database_url: str, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shop = make_shop(client)
    alice = register(client)
    held = book(client, alice, shop, local(future_day(), "10:00")).json()
    book(client, alice, shop, local(future_day(), "12:00"))
    expire_hold(database_url, held["id"])
    code, preview = _run(monkeypatch, home, database_url, "expire-holds", "--dry-run")
    assert code == 0
    assert preview["booking_ids"] == [held["id"]] and preview["expired"] == 0
    assert sql(database_url, "SELECT count(*) FROM bookings WHERE status = 'expired'") == [(0,)]
    code, done = _run(monkeypatch, home, database_url, "expire-holds")
    assert code == 0 and done["expired"] == 1
    assert sql(database_url, "SELECT id::text FROM bookings WHERE status = 'expired'") == [
        (held["id"],)
    ]
    events = sql_events(home)
    assert "bookings.expire_holds" in events


def sql_events(home: Path) -> str:
    import sqlite3

    with sqlite3.connect(home / "ops.db") as conn:
        return " ".join(row[0] for row in conn.execute("SELECT kind FROM ops_events"))


def test_check_is_ok_on_a_healthy_database_and_critical_without_the_constraint(
    client: TestClient, database_url: str, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shop = make_shop(client)
    alice = register(client)
    start = local(future_day(), "10:00")
    book(client, alice, shop, start)
    code, report = _run(monkeypatch, home, database_url, "check")
    assert code == 0 and report["status"] == "ok" and report["constraint_present"] is True
    # Break the guarantee the way a bad manual fix or restore could, then look again.
    sql(database_url, "ALTER TABLE bookings DROP CONSTRAINT bookings_no_overlap")
    other = register(client)
    assert book(client, other, shop, start).status_code == 409  # the app check still refuses
    sql(
        database_url,
        "INSERT INTO bookings (shop_id, provider_id, service_id, client_id, status, starts_at, "
        "ends_at, buffered_starts_at, buffered_ends_at, price_minor, currency) "
        "SELECT shop_id, provider_id, service_id, client_id, 'confirmed', starts_at, ends_at, "
        "buffered_starts_at, buffered_ends_at, price_minor, currency FROM bookings",
    )
    code, report = _run(monkeypatch, home, database_url, "check")
    assert code == 2
    assert report["constraint_present"] is False
    assert len(report["overlaps"]) == 1


def test_purge_refuses_without_yes_previews_and_deletes_only_outlived_rows(
    client: TestClient, database_url: str, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shop = make_shop(client)
    alice = register(client)
    booking = book(client, alice, shop, local(future_day(), "10:00"), key="old-key")
    book(client, alice, shop, local(future_day(), "12:00"), key="new-key")
    client.post("/api/v1/auth/logout", headers=alice.headers)
    sql(
        database_url,
        "UPDATE idempotency_keys SET created_at = now() - interval '3 days' WHERE key = 'old-key'",
    )
    sql(database_url, "UPDATE token_revocations SET expires_at = now() - interval '1 minute'")
    sql(
        database_url,
        "UPDATE refresh_tokens SET expires_at = now() - interval '1 minute' WHERE user_id = %(id)s",
        {"id": alice.id},
    )
    code, refused = _run(monkeypatch, home, database_url, "purge")
    assert code == 3
    assert "--yes" in refused["error"]["message"]  # type: ignore[index]
    code, preview = _run(monkeypatch, home, database_url, "purge", "--dry-run")
    assert code == 0
    assert (preview["idempotency_keys"], preview["token_revocations"]) == (1, 1)
    assert preview["refresh_tokens"] == 1
    code, done = _run(monkeypatch, home, database_url, "purge", "--yes")
    assert code == 0 and done["idempotency_keys"] == 1
    assert sql(database_url, "SELECT key FROM idempotency_keys") == [("new-key",)]
    assert sql(database_url, "SELECT count(*) FROM token_revocations") == [(0,)]
    assert sql(
        database_url, "SELECT count(*) FROM refresh_tokens WHERE user_id = %(id)s", {"id": alice.id}
    ) == [(0,)]
    assert sql(
        database_url,
        "SELECT count(*) FROM bookings WHERE id = %(id)s",
        {"id": booking.json()["id"]},
    ) == [(1,)]
    assert "bookings.purge" in sql_events(home)
