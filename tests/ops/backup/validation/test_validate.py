"""`backup validate`: healthy backups pass every layer; the full test restores for real and
checks the application's invariants (a double booking planted in the data is found)."""

from __future__ import annotations

import json
import subprocess

import pytest

from chairside.ops.backup import access
from chairside.ops.database import migrations
from chairside.ops.timeline.store import open_ops_store
from tests.ops.backup.helpers import BackupEnv, backup_env
from tests.support.servers import ClusterFactory

pytestmark = pytest.mark.slow

SEED = """
INSERT INTO users (id, email, full_name, password_hash, role) VALUES
  ('00000000-0000-0000-0000-000000000001', 'owner@example.com', 'Owner', 'x', 'owner'),
  ('00000000-0000-0000-0000-000000000002', 'client@example.com', 'Client', 'x', 'client');
INSERT INTO shops (id, owner_id, name, latitude, longitude, timezone, currency) VALUES
  ('00000000-0000-0000-0000-000000000010', '00000000-0000-0000-0000-000000000001',
   'Fade Street', 52.5, 13.4, 'Europe/Berlin', 'EUR');
INSERT INTO providers (id, shop_id, name) VALUES
  ('00000000-0000-0000-0000-000000000020', '00000000-0000-0000-0000-000000000010', 'Sam');
INSERT INTO services (id, shop_id, name, duration_minutes, price_minor) VALUES
  ('00000000-0000-0000-0000-000000000030', '00000000-0000-0000-0000-000000000010', 'Cut', 60, 2500);
"""


def book(env: BackupEnv, booking_id: str, start: str, end: str) -> None:
    env.sql(
        "INSERT INTO bookings (id, shop_id, provider_id, service_id, client_id, status, "
        "starts_at, ends_at, buffered_starts_at, buffered_ends_at, price_minor, currency) "
        f"VALUES ('{booking_id}', '00000000-0000-0000-0000-000000000010', "
        "'00000000-0000-0000-0000-000000000020', '00000000-0000-0000-0000-000000000030', "
        f"'00000000-0000-0000-0000-000000000002', 'confirmed', '{start}', '{end}', '{start}', "
        f"'{end}', 2500, 'EUR')"
    )


def validate(env: BackupEnv, *args: str) -> tuple[int, dict[str, object]]:
    result = env.cli("backup", "validate", *args, "--json")
    assert result.stdout, result.stderr
    return result.returncode, json.loads(result.stdout)


def checks_of(report: dict[str, object], index: int = -1) -> dict[str, dict[str, object]]:
    backups = report["backups"]
    assert isinstance(backups, list)
    return {c["name"]: c for c in backups[index]["checks"]}


def test_healthy_backups_pass_and_the_result_is_kept_as_last_verified(
    cluster_factory: ClusterFactory,
) -> None:
    with backup_env(cluster_factory) as env:
        env.cli("backup", "full", "--json", check=True)
        env.sql("CREATE TABLE t AS SELECT generate_series(1, 1000) AS n")
        env.switch_and_wait()
        env.cli("backup", "full", "--json", check=True)
        env.switch_and_wait()

        code, report = validate(env)
        assert code == 0, report
        assert report["level"] == "continuity" and len(report["backups"]) == 2  # type: ignore[arg-type]
        checks = checks_of(report, 0)
        assert {n: c["status"] for n, c in checks.items()} == {
            "marker": "ok", "files": "ok", "continuity": "ok", "wal_integrity": "ok",
        }  # fmt: skip
        assert "without a gap" in str(checks["continuity"]["summary"])

        code, report = validate(env, "--integrity-only")
        assert code == 0 and "continuity" not in checks_of(report)

        catalog = access.catalog(env.settings)
        newest = catalog.list_backups()[-1].id
        stored = catalog.read_validation(newest)
        assert stored is not None and stored["status"] == "ok" and stored["level"] == "integrity"
        status = json.loads(env.cli("backup", "status", "--json").stdout)
        assert status["last_validation"]["backup_id"] == newest
        events = open_ops_store(env.settings).recent(kind_prefix="backup.validate")
        assert len(events) == 2 and events[0].status == "ok"

        both = env.cli("backup", "validate", "--integrity-only", "--full-test", "--json")
        assert both.returncode == 3 and "contradict" in both.stdout

        code, report = validate(env, "latest", "--integrity-only")  # the runbook's spelling
        assert code == 0, report
        assert [b["backup_id"] for b in report["backups"]] == [newest]  # type: ignore[union-attr]


def test_the_full_test_restores_checks_and_finds_a_double_booking(
    cluster_factory: ClusterFactory,
) -> None:
    with backup_env(cluster_factory) as env:
        migrations.upgrade(url=env.cluster.url("postgres"))
        for statement in SEED.split(";"):
            if statement.strip():
                env.sql(statement)
        first = "00000000-0000-0000-0000-0000000000b1"
        book(env, first, "2026-12-01 10:00+00", "2026-12-01 11:00+00")
        env.cli("backup", "full", "--json", check=True)
        env.switch_and_wait()

        code, report = validate(env, "--full-test")
        assert code == 0, json.dumps(report, indent=1)
        checks = checks_of(report)
        for name in ("pg_verifybackup", "test_restore", "amcheck", "no_overlapping_bookings"):
            assert checks[name]["status"] == "ok", checks[name]
        assert checks["no_overlapping_bookings"]["details"] == {}  # checked, not skipped
        assert "bookings 1" in str(checks["row_counts"]["summary"])

        # A restore can only be as good as the data: plant a double booking behind the
        # constraint's back, and the full test of the next backup names it.
        env.sql("ALTER TABLE bookings DROP CONSTRAINT bookings_no_overlap")
        second = "00000000-0000-0000-0000-0000000000b2"
        book(env, second, "2026-12-01 10:30+00", "2026-12-01 11:30+00")
        env.cli("backup", "full", "--json", check=True)
        env.switch_and_wait()
        newest = access.catalog(env.settings).list_backups()[-1].id
        code, report = validate(env, newest, "--full-test")
        assert code == 2
        clash = checks_of(report)["no_overlapping_bookings"]
        assert clash["status"] == "critical"
        assert first in str(clash["summary"]) and second in str(clash["summary"])
        leftovers = list((env.settings.home / "validation").glob("*/data"))
        assert leftovers == []
        assert not _scratch_servers_running(env)


def _scratch_servers_running(env: BackupEnv) -> bool:
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    return str(env.settings.home / "validation") in ps
