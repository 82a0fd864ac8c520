"""A primary with the booking schema, real booking rows, continuous archiving and a backup."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from chairside.ops.database import migrations
from tests.ops.backup.helpers import BackupEnv, backup_env
from tests.support.servers import ClusterFactory

SEED = """
INSERT INTO users (id, email, full_name, password_hash, role) VALUES
  ('00000000-0000-0000-0000-000000000001', 'owner@example.test', 'Olga Owner', 'x', 'owner'),
  ('00000000-0000-0000-0000-000000000002', 'client@example.test', 'Carl Client', 'x', 'client');
INSERT INTO shops (id, owner_id, name, latitude, longitude, timezone, currency) VALUES
  ('00000000-0000-0000-0000-0000000000a1', '00000000-0000-0000-0000-000000000001',
   'Fade Street', 52.52, 13.40, 'Europe/Berlin', 'EUR');
INSERT INTO providers (id, shop_id, name) VALUES
  ('00000000-0000-0000-0000-0000000000b1', '00000000-0000-0000-0000-0000000000a1', 'Bea');
INSERT INTO services (id, shop_id, name, duration_minutes, price_minor) VALUES
  ('00000000-0000-0000-0000-0000000000c1', '00000000-0000-0000-0000-0000000000a1',
   'Haircut', 30, 2500);
INSERT INTO provider_services VALUES
  ('00000000-0000-0000-0000-0000000000b1', '00000000-0000-0000-0000-0000000000c1');
INSERT INTO working_hours (provider_id, weekday, starts, ends)
  SELECT '00000000-0000-0000-0000-0000000000b1', d, '09:00', '17:00'
  FROM generate_series(0, 6) AS d;
"""


def add_booking(env: BackupEnv, days_ahead: int, status: str = "confirmed") -> None:
    """Book the provider for 30 minutes at 10:00 UTC, ``days_ahead`` days from now."""
    env.sql(
        "INSERT INTO bookings (shop_id, provider_id, service_id, client_id, status, starts_at, "
        "ends_at, buffered_starts_at, buffered_ends_at, price_minor, currency) SELECT "
        "'00000000-0000-0000-0000-0000000000a1', '00000000-0000-0000-0000-0000000000b1', "
        "'00000000-0000-0000-0000-0000000000c1', '00000000-0000-0000-0000-000000000002', "
        f"'{status}', s, s + interval '30 min', s, s + interval '30 min', 2500, 'EUR' FROM "
        f"(SELECT date_trunc('day', now()) + interval '{days_ahead} days 10 hours' AS s) AS t"
    )


@pytest.fixture
def primary(cluster_factory: ClusterFactory) -> Iterator[BackupEnv]:
    """An archiving cluster whose `postgres` database holds the migrated booking schema."""
    with backup_env(cluster_factory) as env:
        env.cluster.configure({"track_commit_timestamp": "on"})
        env.cluster.stop()
        env.cluster.start()
        migrations.upgrade(url=env.cluster.url("postgres"))
        with psycopg.connect(env.cluster.conninfo(), autocommit=True) as conn:
            conn.execute(SEED.encode())
        add_booking(env, 1)
        yield env
