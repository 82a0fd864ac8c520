"""Point-in-time recovery is exact: a restore holds precisely the rows committed before its target.

Two base backups with marker rows before, between and after them, each in its own WAL
segment; restores to times (one exactly at a commit, one a microsecond before it), to
an LSN, to a backup's consistent point and to the latest state.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from chairside.ops.backup.basebackup import take_full_backup
from chairside.ops.restore import service
from chairside.ops.restore.plan import TargetOutsideWindowError
from chairside.ops.restore.targets import LATEST, build_target
from chairside.ops.timeline.store import open_ops_store
from tests.ops.backup.helpers import backup_env
from tests.ops.restore.helpers import (
    cli,
    copy_conninfo,
    marker_ids,
    stop_copy,
    track_commit_times,
    write_markers,
)
from tests.support.servers import ClusterFactory

pytestmark = pytest.mark.slow


def test_restores_hold_exactly_the_rows_committed_before_each_target(
    cluster_factory: ClusterFactory,
) -> None:
    with backup_env(cluster_factory) as env:
        track_commit_times(env)
        first = take_full_backup(env.settings).manifest
        early = write_markers(env, range(1, 4))
        second = take_full_backup(env.settings).manifest
        late = write_markers(env, range(4, 7))
        segments = {m.lsn_after.split("/")[1][:-5] for m in early + late}
        assert len(segments) >= 5, "markers should lie in different WAL segments"

        def restore(name: str, target: service.RestoreRequest) -> tuple[list[int], str]:
            result = service.restore_database(env.settings, request=target)
            try:
                return marker_ids(copy_conninfo(result)), result.preview.plan.backup.id
            finally:
                stop_copy(result.data_dir)

        def at(name: str, **target: str) -> service.RestoreRequest:
            return service.RestoreRequest(target=build_target(**target), to=env.root / name)

        # Between two early markers: only the first backup can reach it.
        ids, used = restore("t1", at("t1", time=early[1].committed_at.isoformat()))
        assert (ids, used) == ([1, 2], first.id)
        # Exactly at a commit time: that transaction is included ...
        ids, used = restore("t2", at("t2", time=late[1].committed_at.isoformat()))
        assert (ids, used) == ([1, 2, 3, 4, 5], second.id)
        # ... and one microsecond before it, it is not.
        just_before = (late[1].committed_at - timedelta(microseconds=1)).isoformat()
        ids, _ = restore("t3", at("t3", time=just_before))
        assert ids == [1, 2, 3, 4]
        # An LSN right after marker 5's commit.
        ids, _ = restore("t4", at("t4", lsn=late[1].lsn_after))
        assert ids == [1, 2, 3, 4, 5]
        # The second backup's own consistent point: the early markers, none of the late.
        ids, _ = restore(
            "t5",
            service.RestoreRequest(
                target=build_target(immediate=True), backup_id=second.id, to=env.root / "t5"
            ),
        )
        assert ids == [1, 2, 3]
        ids, used = restore("t6", service.RestoreRequest(target=LATEST, to=env.root / "t6"))
        assert (ids, used) == ([1, 2, 3, 4, 5, 6], second.id)

        events = open_ops_store(env.settings).recent(kind_prefix="restore.")
        assert len(events) == 6 and all(e.status == "ok" for e in events)


def test_the_cli_restores_to_a_time_and_refuses_one_outside_the_window(
    cluster_factory: ClusterFactory,
) -> None:
    with backup_env(cluster_factory) as env:
        track_commit_times(env)
        before = write_markers(env, range(1, 2))
        take_full_backup(env.settings)
        markers = write_markers(env, range(2, 5))

        dry = cli(env, "restore", "pitr", "--target-time", str(markers[0].committed_at),
                  "--to", str(env.root / "dry"), "--dry-run", "--json")  # fmt: skip
        assert dry.returncode == 0, dry.stderr
        plan = json.loads(dry.stdout)
        assert plan["dry_run"] and plan["target"]["kind"] == "time"
        assert not (env.root / "dry").exists()
        assert any("running in" in step and "on a free port" in step for step in plan["steps"])
        assert not any("port a free port" in step for step in plan["steps"])

        done = cli(env, "restore", "pitr", "--target-time", str(markers[1].committed_at),
                   "--to", str(env.root / "copy"), "--json")  # fmt: skip
        assert done.returncode == 0, done.stderr
        report = json.loads(done.stdout)
        try:
            conninfo = f"host={env.root / 'copy.run'} port={report['port']} user=postgres"
            assert marker_ids(conninfo) == [1, 2, 3]
            assert report["recovery"]["timeline"] == 2
        finally:
            stop_copy(report["data_dir"])

        window = cli(env, "restore", "window", "--json")
        assert window.returncode == 0, window.stderr
        [reach] = json.loads(window.stdout)["ranges"]
        assert reach["missing_segment"] is None and reach["timeline"] == 1
        earliest = datetime.fromisoformat(reach["earliest_time"])
        latest = datetime.fromisoformat(reach["latest_time"])
        assert earliest < markers[0].committed_at <= latest

        # Before the backup finished: outside the window, and the message names it.
        early = str(before[0].committed_at)
        too_early = cli(env, "restore", "pitr", "--target-time", early, "--to", str(env.root / "x"),
                        "--json")  # fmt: skip
        assert too_early.returncode == 2
        error = json.loads(too_early.stdout)["error"]
        assert error["type"] == TargetOutsideWindowError.__name__
        assert "outside the recoverable window [" in error["message"]
        assert not Path(env.root / "x").exists()
