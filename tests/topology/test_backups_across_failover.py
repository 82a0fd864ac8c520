"""Backups across the lab's topology: a full backup from a replica, WAL archiving from every
Patroni node into the lab's S3 repository through a switchover, and a point-in-time restore
from a backup taken before the switchover to a moment after it.

Runs before test_lab.py on the shared lab and leaves it whole: the switchover is Patroni's
own (no host killed), and the test waits until every node streams on the new timeline.
"""

from __future__ import annotations

import itertools
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import httpx
import psycopg
import pytest

from chairside.config import Settings
from chairside.ops.backup import access
from chairside.ops.backup.basebackup import take_full_backup
from chairside.ops.backup.incremental import take_incremental_backup
from chairside.ops.backup.manifest import Manifest
from chairside.ops.backup.walarchive import segment_name, segment_number
from chairside.ops.drill.booking_load import BookingLoad, BookingWorld
from chairside.ops.restore import service
from chairside.ops.restore.reach import backup_reach, view_for
from chairside.ops.restore.targets import build_target
from chairside.ops.restore.wal_chain import parse_history
from chairside.runtime.lab.archive import lab_settings
from chairside.runtime.lab.layout import SUPERUSER
from chairside.topology.patroni import ClusterView, cluster_view
from tests.ops.restore.helpers import stop_copy
from tests.support.servers import remove_tree, scratch_dir
from tests.topology.conftest import Lab, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

# Every booking, as its whole row, in one checksum.
CHECKSUM = (
    "SELECT count(*), md5(coalesce(string_agg(b::text, ',' ORDER BY b.id::text), '')) "
    "FROM bookings b"
)


@dataclass
class Ops:
    """An operator's Chairside pointed at the lab (`chairside lab env`), in a scratch home."""

    lab: Lab
    settings: Settings
    root: Path
    world: BookingWorld | None = None
    next_slot: int = 0

    def leader_conninfo(self) -> str:
        view = cluster_view(self.lab.topology)
        assert view.leader is not None
        password = self.lab.layout.secrets()["superuser_password"]
        return (
            f"host={view.leader.host} port={view.leader.port} user={SUPERUSER} "
            f"password={password} dbname={self.lab.topology.postgres.database}"
        )

    def leader_checksum(self) -> tuple[int, str]:
        with psycopg.connect(self.leader_conninfo(), autocommit=True) as conn:
            row = conn.execute(CHECKSUM).fetchone()
        assert row is not None
        return int(row[0]), str(row[1])

    def leader_clock(self) -> datetime:
        with psycopg.connect(self.leader_conninfo(), autocommit=True) as conn:
            row = conn.execute("SELECT clock_timestamp()").fetchone()
        assert row is not None
        return row[0]  # type: ignore[no-any-return]

    @contextmanager
    def booking(self) -> Iterator[BookingLoad]:
        """Clients booking through HAProxy's API port while the block runs."""
        if self.world is None:
            self.world = BookingLoad(api_url=self.lab.api_url).prepare()
        load = BookingLoad(
            api_url=self.lab.api_url,
            clients=2,
            world=self.world,
            _slots=itertools.count(self.next_slot),  # the slots of earlier bursts are taken
        )
        load.start()
        try:
            yield load
        finally:
            load.stop()
            self.next_slot = next(load._slots) + 1

    def book(self, at_least: int) -> int:
        """At least ``at_least`` acknowledged bookings; how many there were."""
        with self.booking() as load:
            wait_for(lambda: len(load.acknowledged()) >= at_least, 60, f"{at_least} bookings")
        return len(load.acknowledged())

    def restored_checksum(self, request: service.RestoreRequest) -> tuple[int, str]:
        """Restore a side-by-side copy, checksum its bookings, remove it."""
        result = service.restore_database(self.settings, request=request)
        assert request.to is not None
        try:
            socket = request.to.parent / f"{request.to.name}.run"
            conninfo = (
                f"host={socket} port={result.port} user={SUPERUSER} "
                f"dbname={self.lab.topology.postgres.database}"
            )
            with psycopg.connect(conninfo, autocommit=True) as conn:
                row = conn.execute(CHECKSUM).fetchone()
        finally:
            stop_copy(result.data_dir)
            shutil.rmtree(request.to, ignore_errors=True)
        assert row is not None
        return int(row[0]), str(row[1])


@pytest.fixture(scope="module")
def ops(lab: Lab) -> Iterator[Ops]:
    root = scratch_dir("chairside-lab-ops-")
    root.chmod(0o755)  # restored copies run as the server's user
    settings = lab_settings(lab.topology, lab.layout, home=root / "home")
    try:
        yield Ops(lab, settings, root)
    finally:
        remove_tree(root)


@dataclass(frozen=True)
class ReplicaBackup:
    manifest: Manifest
    leader: str


@pytest.fixture(scope="module")
def replica_backup(ops: Ops) -> ReplicaBackup:
    """A full backup from a replica, taken while bookings are being made."""
    with ops.booking() as load:
        wait_for(lambda: len(load.acknowledged()) >= 3, 60, "the first bookings")
        result = take_full_backup(ops.settings, origin="replica")
    assert len(load.acknowledged()) > 3
    view = cluster_view(ops.lab.topology)
    assert view.leader is not None
    return ReplicaBackup(result.manifest, view.leader.name)


def test_a_backup_taken_from_a_replica_is_recorded_like_any_other(
    ops: Ops, replica_backup: ReplicaBackup
) -> None:
    manifest = replica_backup.manifest
    # Taken from a replica, not the leader, and it says so.
    assert manifest.extra["source"] == "replica"
    assert manifest.extra["source_node"] != replica_backup.leader
    # Listed like any other complete backup, with the WAL that makes it consistent.
    listed = {e.id: e for e in access.catalog(ops.settings).list_backups()}
    assert listed[manifest.id].complete
    assert {f.name for f in manifest.files} >= {"base.tar.zst", "pg_wal.tar.zst"}
    assert manifest.start_wal is not None and manifest.stop_wal is not None
    # That it restores exactly is the last test: to a moment after a switchover.


@dataclass(frozen=True)
class Switched:
    old_leader: str
    new_leader: str
    old_timeline: int
    new_timeline: int
    target: datetime  # a moment after the switchover
    at_target: tuple[int, str]  # the bookings' checksum then
    last_segment: str  # confirmed archived at the end


def _whole(view: ClusterView, size: int) -> bool:
    leader = view.leader
    return (
        leader is not None
        and len(view.members) == size
        and all(
            m.state in ("running", "streaming")
            and m.lag_bytes is not None
            and m.timeline == leader.timeline
            for m in view.replicas
        )
    )


@pytest.fixture(scope="module")
def switched(ops: Ops, replica_backup: ReplicaBackup) -> Switched:
    """Patroni's switchover to the synchronous standby, bookings on both sides of it."""
    topology = ops.lab.topology
    nodes = len(topology.postgres.nodes)
    view = cluster_view(topology)
    assert view.leader is not None and _whole(view, nodes)
    old = view.leader
    candidate = next(m for m in view.replicas if m.role == "sync_standby")
    rest = next(n for n in topology.postgres.nodes if n.name == old.name).rest_url
    answer = httpx.post(
        f"{rest}/switchover",
        json={"leader": old.name, "candidate": candidate.name},
        timeout=60,
    )
    assert answer.status_code == 200, answer.text

    def switched_and_whole() -> bool:
        now = cluster_view(topology)
        return now.leader is not None and now.leader.name == candidate.name and _whole(now, nodes)

    wait_for(switched_and_whole, 60, "the switchover, every node streaming again")
    new = cluster_view(topology).leader
    assert new is not None and new.timeline is not None and old.timeline is not None
    assert new.timeline > old.timeline

    ops.book(5)  # committed after the switchover, before the target
    target = ops.leader_clock()
    at_target = ops.leader_checksum()
    time.sleep(0.5)
    ops.book(5)  # committed after the target
    confirmed = take_incremental_backup(ops.settings, timeout=60)
    return Switched(
        old.name, new.name, old.timeline, new.timeline, target, at_target, confirmed.segment
    )


def test_wal_archiving_continues_across_a_switchover_without_gaps(
    ops: Ops, replica_backup: ReplicaBackup, switched: Switched
) -> None:
    archive = access.wal_archive(ops.settings)
    entries = archive.entries()
    # No conflicting duplicates: every WAL name is stored once, although every node
    # archives (archive_mode = always) the segments it has.
    keys: dict[str, set[str]] = {}
    for entry in entries:
        keys.setdefault(entry.name, set()).add(entry.key)
    assert {n: k for n, k in keys.items() if len(k) > 1} == {}

    # Every node archives (the replicas too: a segment the leader had not archived when it
    # died is still pushed by the replicas that received it), and no node is stuck on a
    # push the repository refuses.
    password = ops.lab.layout.secrets()["superuser_password"]
    for node in ops.lab.topology.postgres.nodes:
        conninfo = f"host={node.host} port={node.port} user={SUPERUSER} password={password}"
        with psycopg.connect(conninfo, dbname="postgres", autocommit=True) as conn:
            row = conn.execute(
                "SELECT archived_count, last_failed_wal,"
                " coalesce(last_failed_time < last_archived_time, true)"
                " FROM pg_stat_archiver"
            ).fetchone()
        assert row is not None
        archived, last_failed, recovered = row
        assert archived > 0, f"{node.name} archived nothing"
        assert recovered, f"{node.name}: archiving {last_failed} keeps failing"

    # The new timeline's history file is archived and says where it branched.
    history = f"{switched.new_timeline:08X}.history"
    (history_entry,) = [e for e in entries if e.name == history]
    switches = parse_history(archive.content(history_entry).decode())
    switch = next(s for s in switches if s.timeline == switched.old_timeline)
    size = replica_backup.manifest.wal_segment_size or 16 * 1024 * 1024
    switch_segno = switch.switch_lsn // size

    present = {(e.timeline, segment_number(e.name, size)) for e in entries if e.kind == "segment"}
    partial = {
        (e.timeline, segment_number(e.name[:24], size)) for e in entries if e.kind == "partial"
    }
    # The old timeline: every segment from the backup's start up to the switch, the one
    # the switch happened in whole or as the promoted node's .partial.
    assert replica_backup.manifest.start_wal is not None
    first = segment_number(replica_backup.manifest.start_wal, size)
    old = switched.old_timeline
    missing_old = [
        segment_name(old, n, size) for n in range(first, switch_segno) if (old, n) not in present
    ]
    assert missing_old == []
    if switch.switch_lsn % size:
        assert (old, switch_segno) in present | partial
    # The new timeline: continuous from the switch point to the segment confirmed last.
    new = switched.new_timeline
    last = segment_number(switched.last_segment, size)
    missing_new = [
        segment_name(new, n, size) for n in range(switch_segno, last + 1) if (new, n) not in present
    ]
    assert missing_new == []
    # The restore planner agrees: the pre-switchover backup reaches the new timeline's end.
    reach = backup_reach(
        replica_backup.manifest, view_for(archive, [replica_backup.manifest]), timeline=new
    )
    assert reach is not None and reach.chain.missing is None
    assert switched.last_segment in reach.chain.segments


def test_a_replica_backup_from_before_a_switchover_restores_exactly_to_a_moment_after_it(
    ops: Ops, replica_backup: ReplicaBackup, switched: Switched
) -> None:
    """PITR across the switchover's timeline, from the backup taken on a replica."""
    now = ops.leader_checksum()
    assert now[0] > switched.at_target[0]  # bookings were made after the target
    restored = ops.restored_checksum(
        service.RestoreRequest(
            target=build_target(time=switched.target.isoformat()),
            backup_id=replica_backup.manifest.id,
            to=ops.root / "copy-pitr",
        )
    )
    # Exactly the leader's bookings at the target (every row, by checksum), on the
    # timeline the switchover made.
    assert restored == switched.at_target
