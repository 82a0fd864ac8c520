"""Losing the database machine: a steady writer, ``kill -9`` of PostgreSQL, a latest restore.

Synchronous streaming must lose no acknowledged commit (the receiver's partial segment
reaches the repository and the restore replays it); asynchronous archiving must lose no
more than ``backup status`` said was at risk just before the kill.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime

import pytest

from chairside.ops.backup.basebackup import take_full_backup
from chairside.ops.backup.status import backup_status
from chairside.ops.backup.streaming import WalStreamer
from chairside.ops.restore import service
from chairside.ops.restore.targets import LATEST
from tests.ops.backup.helpers import backup_env
from tests.ops.restore.helpers import copy_conninfo, stop_copy
from tests.support.killrounds import SteadyWriter, count_loss, kill_postgres
from tests.support.servers import ClusterFactory

pytestmark = pytest.mark.slow


def test_sync_streaming_loses_no_acknowledged_commit_when_postgres_is_killed(
    cluster_factory: ClusterFactory,
) -> None:
    with backup_env(cluster_factory, wal_mode="sync") as env:
        take_full_backup(env.settings)
        # The receiver's spool is not the database's disk (settings.home, not the data
        # directory): it stands for the receiver on another host, which survives.
        streamer = WalStreamer.from_settings(env.settings, synchronous=True)
        thread = threading.Thread(target=streamer.run, daemon=True)
        thread.start()
        try:
            _wait_for(lambda: streamer.process is not None, "the receiver never started")
            _wait_for(lambda: _sync_receiver(env), "the receiver never became synchronous")
            writer = SteadyWriter(env.cluster.conninfo(), rate=100)
            writer.start()
            time.sleep(3)
            kill_postgres(env.cluster)
            writer.stop()
            assert writer.last_acked > 100
            # The receiver lost its server: it pushes what it flushed last, unprompted.
            _wait_for(
                lambda: streamer.pushed_after_loss > 0,
                "the receiver's partial segment was not pushed after the kill",
            )
            result = service.restore_database(
                env.settings, request=service.RestoreRequest(target=LATEST, to=env.root / "copy")
            )
            try:
                loss = count_loss(writer, copy_conninfo(result))
            finally:
                stop_copy(result.data_dir)
            assert loss.missing == 0, loss.to_dict()
            assert result.preview.plan.chain.partial is not None
            assert result.to_dict()["end_from_partial"] == result.preview.plan.chain.partial
        finally:
            streamer.stop()
            thread.join(timeout=30)


def _sync_receiver(env: object) -> bool:
    rows = env.sql(  # type: ignore[attr-defined]
        "SELECT count(*) FROM pg_stat_replication WHERE sync_state = 'sync'"
    )
    return bool(rows and rows[0][0])


def _wait_for(condition: object, message: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, message
        time.sleep(0.05)


def test_async_archiving_loses_no_more_than_backup_status_reported_before_the_kill(
    cluster_factory: ClusterFactory,
) -> None:
    with backup_env(cluster_factory, wal_archive_timeout_seconds=3) as env:
        take_full_backup(env.settings)
        writer = SteadyWriter(env.cluster.conninfo(), rate=100)
        writer.start()
        began = time.monotonic()
        # A monitor reads status as /metrics would, until its LSN clock covers what is
        # shipped (the first readings come after the archived end: no sample that old).
        while time.monotonic() - began < 4 or (
            backup_status(env.settings).wal["rpo_basis"] != "lsn_clock"
        ):
            assert time.monotonic() - began < 30, "the LSN clock never covered the archive"
            backup_status(env.settings)
            time.sleep(0.3)
        reported = backup_status(env.settings).wal
        killed_at = kill_postgres(env.cluster)
        reported_at = datetime.fromisoformat(reported["rpo_at"]).timestamp()
        writer.stop()
        assert reported["rpo_basis"] in ("lsn_clock", "nothing_pending"), reported
        result = service.restore_database(
            env.settings, request=service.RestoreRequest(target=LATEST, to=env.root / "copy")
        )
        try:
            loss = count_loss(writer, copy_conninfo(result))
        finally:
            stop_copy(result.data_dir)
        # Commits acknowledged after the status reading add to what it reported.
        bound = reported["rpo_seconds"] + (killed_at - reported_at) + 0.05
        assert loss.seconds <= bound, (loss.to_dict(), reported)
        assert loss.restored_max > 0
