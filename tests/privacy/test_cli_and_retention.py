"""The operator's ``chairside privacy`` commands, the retention job and its compliance check."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from chairside.config import Settings, load_settings
from chairside.errors import ConfigError
from chairside.ops.schedule.jobs import default_jobs
from chairside.ops.timeline.store import open_ops_store
from tests.booking.world import register, sql
from tests.privacy.conftest import PrivacyCli, World


def test_the_operator_exports_and_anonymises_an_account_safely(
    privacy_cli: PrivacyCli, world: World, fast: Settings, database_url: str, tmp_path: Path
) -> None:
    alice = world.alice
    target = tmp_path / "alice.json"
    exported = privacy_cli("export", "--email", alice.email.upper(), "--out", str(target))
    assert exported.code == 0, exported.stdout
    assert exported.body["bookings"] == 1 and exported.body["payments"] == 1
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    data = json.loads(target.read_text())
    assert data["account"]["email"] == alice.email
    assert data["bookings"][0]["id"] == world.alice_booking["id"]

    owner = privacy_cli("anonymise", "--email", world.shop.owner.email, "--yes")
    assert owner.code == 3 and "owns 1 shop" in owner.body["error"]["message"]
    unknown = privacy_cli("anonymise", "--email", "nobody@example.com", "--yes")
    assert unknown.code == 2

    dry = privacy_cli("anonymise", "--email", alice.email, "--dry-run")
    assert dry.code == 0 and dry.body["dry_run"] and dry.body["bookings"] == 1
    unasked = privacy_cli("anonymise", "--email", alice.email)  # no terminal, no --yes
    assert unasked.code == 3
    assert sql(database_url, "SELECT email FROM users WHERE id = %(id)s", {"id": alice.id}) == [
        (alice.email,)
    ]

    done = privacy_cli("anonymise", "--email", alice.email, "--yes")
    assert done.code == 0, done.stdout
    assert done.body["audit_rows_redacted"] >= 1 and not done.body["already_anonymised"]
    again = privacy_cli("anonymise", "--user-id", alice.id, "--yes")
    assert again.code == 0 and again.body["already_anonymised"]
    assert privacy_cli("anonymise", "--email", alice.email, "--yes").code == 2  # no such e-mail

    events = open_ops_store(fast).recent(kind_prefix="privacy.")
    assert [e.kind for e in events] == ["privacy.anonymise", "privacy.export"]
    assert alice.email not in json.dumps([e.to_dict() for e in events])  # ids, never e-mails


def _age(database_url: str, user_id: str, months: int) -> None:
    """Make an account, and its bookings, look ``months`` old."""
    sql(
        database_url,
        "UPDATE users SET created_at = now() - make_interval(months => %(m)s),"
        " last_seen_at = now() - make_interval(months => %(m)s) WHERE id = %(id)s",
        {"m": months, "id": user_id},
    )
    sql(
        database_url,
        "UPDATE bookings SET created_at = now() - make_interval(months => %(m)s),"
        " updated_at = now() - make_interval(months => %(m)s),"
        " starts_at = starts_at - make_interval(months => %(m)s),"
        " ends_at = ends_at - make_interval(months => %(m)s),"
        " buffered_starts_at = buffered_starts_at - make_interval(months => %(m)s),"
        " buffered_ends_at = buffered_ends_at - make_interval(months => %(m)s)"
        " WHERE client_id = %(id)s",
        {"m": months, "id": user_id},
    )


def test_retention_anonymises_inactive_clients_only_and_the_audit_reports_it(
    privacy_cli: PrivacyCli, world: World, client: TestClient, database_url: str, fast: Settings
) -> None:
    quiet = register(client)  # no booking, not seen for 30 months
    _age(database_url, quiet.id, 30)
    _age(database_url, world.alice.id, 30)  # her booking, too, long ago
    # Bob's login is old, but his booking is recent: still active.
    sql(
        database_url,
        "UPDATE users SET last_seen_at = now() - interval '30 months' WHERE id = %(id)s",
        {"id": world.bob.id},
    )

    audit = privacy_cli("audit", "compliance", group="security")
    [check] = [c for c in audit.body["checks"] if c["name"] == "privacy_retention"]
    assert check["status"] == "warning"
    assert "never run" in check["summary"] and "2 client(s) inactive" in check["summary"]
    assert check["details"]["overdue_clients"] == 2

    dry = privacy_cli("retention", "--dry-run")
    assert dry.code == 0 and dry.body["inactive"] == 2 and dry.body["anonymised"] == 0
    assert set(dry.body["user_ids"]) == {quiet.id, world.alice.id}
    assert sql(database_url, "SELECT count(*) FROM users WHERE anonymised_at IS NOT NULL") == [(0,)]
    assert not open_ops_store(fast).recent(kind_prefix="privacy.retention")

    run = privacy_cli("retention")
    assert run.code == 0, run.stdout
    assert set(run.body["user_ids"]) == {quiet.id, world.alice.id}
    anonymised = sql(database_url, "SELECT id::text FROM users WHERE anonymised_at IS NOT NULL")
    assert {row[0] for row in anonymised} == {quiet.id, world.alice.id}
    assert client.get("/api/v1/me", headers=world.bob.headers).status_code == 200
    assert client.get("/api/v1/me", headers=world.alice.headers).status_code == 401

    audit = privacy_cli("audit", "compliance", group="security")
    [check] = [c for c in audit.body["checks"] if c["name"] == "privacy_retention"]
    assert check["status"] == "ok", check["summary"]
    assert privacy_cli("retention").body["anonymised"] == 0  # nothing left to do


def test_the_inactivity_setting_is_months_between_1_and_600_and_retention_is_scheduled() -> None:
    job = next(j for j in default_jobs(load_settings()) if j.name == "privacy-retention")
    assert job.argv == ("privacy", "retention") and job.writes  # held in maintenance modes
    assert load_settings(privacy_inactive_months=6).privacy_inactive_months == 6
    for bad in (0, -1, 601):
        with pytest.raises(ConfigError, match="CHAIRSIDE_PRIVACY_INACTIVE_MONTHS"):
            load_settings(privacy_inactive_months=bad)
