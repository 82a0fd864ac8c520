"""Streaming WAL with pg_receivewal: segments arrive without archive_command; sync waits."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest

from chairside.ops.backup.streaming import APPLICATION_NAME, WalStreamer
from chairside.runtime.postgres import PostgresCluster
from tests.ops.backup.helpers import make_settings
from tests.support.servers import ClusterFactory, remove_tree, scratch_dir

pytestmark = pytest.mark.slow


@contextmanager
def streaming(cluster: PostgresCluster, *, synchronous: bool) -> Iterator[WalStreamer]:
    root = scratch_dir()
    settings = make_settings(root, cluster)
    streamer = WalStreamer.from_settings(settings, synchronous=synchronous)
    thread = threading.Thread(target=streamer.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not _receiver_connected(cluster):
            assert thread.is_alive() and time.monotonic() < deadline, "receiver never connected"
            time.sleep(0.05)
        yield streamer
    finally:
        streamer.stop()
        thread.join(timeout=30)
        remove_tree(root)


def _receiver_connected(cluster: PostgresCluster) -> bool:
    with psycopg.connect(cluster.conninfo(), autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_replication WHERE application_name = %s",
            (APPLICATION_NAME,),
        ).fetchone()
    return bool(row and row[0])


def test_streamed_segments_reach_the_repository_without_archive_command(
    cluster_factory: ClusterFactory,
) -> None:
    cluster = cluster_factory.make()
    with streaming(cluster, synchronous=False) as streamer:
        with psycopg.connect(cluster.conninfo(), autocommit=True) as conn:
            conn.execute("CREATE TABLE t AS SELECT g FROM generate_series(1, 1000) g")
            row = conn.execute("SELECT pg_walfile_name(pg_switch_wal())").fetchone()
            assert conn.execute("SHOW archive_mode").fetchone() == ("off",)
        assert row is not None
        segment = str(row[0])
        deadline = time.monotonic() + 20
        while not streamer.archive.find(segment):
            assert time.monotonic() < deadline, f"{segment} was not streamed"
            time.sleep(0.1)
        slots = _slots(cluster)
        assert "chairside" in slots
    cluster.stop(mode="immediate")


def test_synchronous_streaming_holds_commits_until_the_receiver_has_them(
    cluster_factory: ClusterFactory,
) -> None:
    cluster = cluster_factory.make()
    with streaming(cluster, synchronous=True) as streamer:
        with psycopg.connect(cluster.conninfo(), autocommit=True) as conn:
            conn.execute("CREATE TABLE t (id int)")  # returns: the receiver confirmed it
            assert conn.execute("SHOW synchronous_standby_names").fetchone() == (APPLICATION_NAME,)
        assert streamer.process is not None
        receiver = streamer.process.pid
        os.kill(receiver, signal.SIGSTOP)  # the receiver stops acknowledging
        done = threading.Event()

        def commit() -> None:
            with psycopg.connect(cluster.conninfo(), autocommit=True) as conn:
                conn.execute("INSERT INTO t VALUES (1)")
            done.set()

        writer = threading.Thread(target=commit, daemon=True)
        writer.start()
        try:
            assert not done.wait(1.5), "a commit returned without the receiver's flush"
        finally:
            os.kill(receiver, signal.SIGCONT)
        assert done.wait(20), "the commit never completed after the receiver resumed"
        writer.join()
    # A clean stop hands synchronous_standby_names back, so commits do not hang.
    with psycopg.connect(cluster.conninfo(), autocommit=True) as conn:
        assert conn.execute("SHOW synchronous_standby_names").fetchone() == ("",)
        conn.execute("INSERT INTO t VALUES (2)")
    cluster.stop(mode="immediate")


def _slots(cluster: PostgresCluster) -> set[str]:
    with psycopg.connect(cluster.conninfo(), autocommit=True) as conn:
        return {str(r[0]) for r in conn.execute("SELECT slot_name FROM pg_replication_slots")}
