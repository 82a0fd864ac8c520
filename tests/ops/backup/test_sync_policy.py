"""The synchronous receiver dies: strict mode blocks loudly, fallback mode lets writes go on."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from typing import Any

import psycopg
import pytest

from chairside.checks import CheckStatus
from chairside.db import make_engine
from chairside.ops.backup.replication import read_replication
from chairside.ops.backup.sync_policy import SyncPolicyGuard, fallback_since
from chairside.ops.health.replication import check_replication
from chairside.ops.notify.base import Severity
from tests.ops.backup.helpers import CHAIRSIDE, BackupEnv, backup_env, make_settings
from tests.support.servers import ClusterFactory, remove_tree, scratch_dir

pytestmark = pytest.mark.slow


def _start_receiver(env: BackupEnv) -> subprocess.Popen[bytes]:
    with (env.root / f"stream-{time.monotonic_ns()}.log").open("wb") as log:
        process = subprocess.Popen(
            [CHAIRSIDE, "wal", "stream", "--synchronous"], env=env.env(), stdout=log, stderr=log
        )
    _wait_for(lambda: _sync_state(env) == "sync", "the receiver never became synchronous")
    return process


def _sync_state(env: BackupEnv) -> str | None:
    rows = env.sql("SELECT sync_state FROM pg_stat_replication")
    return str(rows[0][0]) if rows else None


def _wait_for(condition: Callable[[], bool], message: str, timeout: float = 30) -> float:
    began = time.monotonic()
    while not condition():
        assert time.monotonic() - began < timeout, message
        time.sleep(0.05)
    return time.monotonic() - began


class Commit:
    """One INSERT in a thread, so a test can see it wait."""

    def __init__(self, env: BackupEnv) -> None:
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(env,), daemon=True)
        self.thread.start()

    def _run(self, env: BackupEnv) -> None:
        with psycopg.connect(env.cluster.conninfo(), autocommit=True) as conn:
            conn.execute("INSERT INTO t VALUES (1)")
        self.done.set()


def test_a_dead_synchronous_receiver_blocks_in_strict_mode_and_falls_back_within_the_bound(
    cluster_factory: ClusterFactory,
) -> None:
    with backup_env(cluster_factory, wal_mode="sync", wal_sync_policy="strict") as env:
        env.sql("CREATE TABLE t (id int)")
        alerts: list[tuple[str, Severity]] = []

        def alert(kind: str, summary: str, severity: Severity, details: dict[str, Any]) -> None:
            alerts.append((kind, severity))

        def connect() -> psycopg.Connection[tuple[Any, ...]]:
            return psycopg.connect(env.cluster.conninfo(), autocommit=True)

        engine = make_engine(env.cluster.url("postgres"), pool_size=1)
        receiver = _start_receiver(env)
        try:
            assert check_replication(engine, env.settings).status is CheckStatus.OK
            os.kill(receiver.pid, signal.SIGKILL)  # `wal stream` and its pg_receivewal die
            receiver.wait(timeout=10)
            # Strict: commits wait, health is critical and an alert is raised within seconds.
            strict = SyncPolicyGuard(env.settings, connect=connect, alert=alert)
            waiting = Commit(env)
            began = time.monotonic()
            check = check_replication(engine, env.settings)
            strict.tick()
            assert check.status is CheckStatus.CRITICAL and check.details["writes_blocked"]
            assert time.monotonic() - began < 5
            assert ("wal.sync.blocked", Severity.CRITICAL) in alerts
            assert not waiting.done.wait(2), "a commit returned without a synchronous receiver"
            # Fallback (bound 2 s): the setting is cleared and the waiting commit goes on.
            settings = env.settings.model_copy(
                update={"wal_sync_policy": "fallback", "wal_sync_fallback_seconds": 2.0}
            )
            guard = SyncPolicyGuard(settings, connect=connect, alert=alert)
            began = time.monotonic()
            while guard.tick() != "fallback":
                assert time.monotonic() - began < 10, "the fallback never engaged"
                time.sleep(0.2)
            assert waiting.done.wait(5), "writes did not resume after the fallback"
            assert time.monotonic() - began < 2 + 3
            assert ("wal.sync.fallback", Severity.WARNING) in alerts
            assert fallback_since(settings) is not None
            assert check_replication(engine, settings).status is CheckStatus.WARNING
            # The receiver comes back: commits wait for it again.
            receiver = _start_receiver(env)
            _wait_for(lambda: guard.tick() == "restored" or _named(env), "never restored")
            guard.tick()
            assert fallback_since(settings) is None
            assert check_replication(engine, settings).status is CheckStatus.OK
        finally:
            receiver.send_signal(signal.SIGTERM)
            receiver.wait(timeout=30)
            engine.dispose()
        # A clean stop drops the slot: nothing keeps WAL on the server afterwards.
        facts = read_replication(lambda sql: env.sql(sql))
        assert facts is not None and facts.slots == []


def _named(env: BackupEnv) -> bool:
    rows = env.sql("SHOW synchronous_standby_names")
    return bool(rows and str(rows[0][0]).strip()) and fallback_since(env.settings) is None


def test_a_slot_holding_back_wal_is_a_warning_naming_it(cluster_factory: ClusterFactory) -> None:
    cluster = cluster_factory.make()
    root = scratch_dir()
    settings = make_settings(root, cluster, wal_slot_warning_mb=1)
    engine = make_engine(cluster.url("postgres"), pool_size=1)
    try:
        with psycopg.connect(cluster.conninfo(), autocommit=True) as conn:
            conn.execute("SELECT pg_create_physical_replication_slot('forgotten', true)")
            assert check_replication(engine, settings).status is CheckStatus.OK
            conn.execute(
                "CREATE TABLE filler AS SELECT g, repeat('x', 200) FROM generate_series(1, 20000) g"
            )
        check = check_replication(engine, settings)
        assert check.status is CheckStatus.WARNING
        assert "forgotten" in check.summary and "holds back" in check.summary
    finally:
        engine.dispose()
        cluster.stop(mode="immediate")
        remove_tree(root)
