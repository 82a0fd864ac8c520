"""The supervisor's WAL watch on a real server: it reads the position and keeps archive_timeout."""

from __future__ import annotations

from typing import Any

import psycopg

from chairside.ops.backup.lsn_clock import LsnClock
from chairside.ops.backup.wal_watch import WalWatch
from tests.ops.backup.helpers import backup_env
from tests.support.servers import ClusterFactory


def test_a_tick_switches_a_segment_that_held_wal_past_archive_timeout(
    cluster_factory: ClusterFactory,
) -> None:
    with backup_env(cluster_factory, wal_archive_timeout_seconds=3) as env:
        now = [1000.0]

        def connect() -> psycopg.Connection[tuple[Any, ...]]:
            return psycopg.connect(env.cluster.conninfo(), autocommit=True)

        watch = WalWatch(env.settings, connect=connect, clock=lambda: now[0])
        env.sql("CREATE TABLE t (id int)")
        assert watch.tick() is False  # raised on '16MB' from current_setting() before
        facts = env.sql("SELECT system_identifier::text FROM pg_control_system()")
        clock = LsnClock.for_settings(env.settings, cluster=str(facts[0][0]))
        assert clock.passed_at(2**62) is not None  # the tick sampled the LSN clock
        size = "(SELECT setting::numeric FROM pg_settings WHERE name = 'wal_segment_size')"
        segment_end = f"(floor((pg_current_wal_lsn() - '0/0') / {size}) + 1) * {size}"
        end_before = env.sql(f"SELECT {segment_end}")[0][0]
        env.sql("INSERT INTO t VALUES (1)")
        now[0] += 3 + 1.5  # past archive_timeout + the grace second
        assert watch.tick() is True and watch.switches == 1
        # The segment that held the insert was closed: the position moved to its end.
        assert env.sql("SELECT pg_current_wal_lsn() - '0/0'")[0][0] >= end_before
