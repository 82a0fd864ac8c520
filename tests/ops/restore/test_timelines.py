"""Restores after point-in-time restores: every target lands on the branch asked for.

One embedded cluster (1 MB segments) is built once for the module with three branches
of history, each holding rows the others lack:

    timeline 1: m1 [F0] m2 | [F1] m3 m4 (tl1-point) m5
    timeline 2:              m3 ──► m6 m7 [F2] m8 (tl2-point)        (in-place PITR to m3)
    timeline 3:                     m6 ──► m9 | (tl3-point) m10      (in-place PITR to m6,
                                                                    before the newest backup F2)

``|`` marks a WAL switch. F2, the newest full backup, lies on an abandoned branch: the
live timeline 3 can only be reached from F1 (or F0) through timelines 1 and 2.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import psycopg
import pytest

from chairside.config import Settings, load_settings
from chairside.errors import ChairsideError
from chairside.ops.backup import access
from chairside.ops.backup.archiving import configure_archiving
from chairside.ops.backup.basebackup import take_full_backup
from chairside.ops.backup.retention import prune_backups
from chairside.ops.backup.status import backup_status
from chairside.ops.drill.service import run_drill
from chairside.ops.restore import inplace, service
from chairside.ops.restore.targets import LATEST, RecoveryTarget, TargetKind
from chairside.ops.restore.timelines import TimelineChoice
from chairside.ops.restore.wal_records import TargetRecordNotFoundError
from chairside.runtime.embedded import embedded_stack
from tests.ops.restore.helpers import stop_copy
from tests.ops.restore.test_in_place import Embedded
from tests.support.servers import remove_tree, scratch_dir

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class Mark:
    id: int
    at: datetime
    xid: int
    lsn_after: int


@dataclass
class Branches:
    world: Embedded
    marks: dict[int, Mark]
    backups: dict[str, str]  # F0, F1, F2 -> backup id
    restores: int = 0

    @property
    def settings(self) -> Settings:
        return self.world.settings

    def mark(self, marker_id: int) -> Mark:
        with psycopg.connect(self.world.pg.conninfo("chairside"), autocommit=True) as conn:
            conn.execute("INSERT INTO markers VALUES (%s)", (marker_id,))
            row = conn.execute(
                "SELECT pg_xact_commit_timestamp(xmin), xmin::text::bigint, "
                "pg_current_wal_insert_lsn() - '0/0'::pg_lsn FROM markers WHERE id = %s",
                (marker_id,),
            ).fetchone()
        assert row is not None
        found = Mark(marker_id, row[0], int(row[1]), int(row[2]))
        self.marks[marker_id] = found
        return found

    def restore_point(self, name: str) -> None:
        self.world.sql(f"SELECT pg_create_restore_point('{name}')")

    def archive(self) -> None:
        inplace.archive_pending_wal(self.world.pg, timeout=60)

    def restore(
        self,
        target: RecoveryTarget,
        *,
        timeline: TimelineChoice = None,
        backup_id: str | None = None,
        settings: Settings | None = None,
    ) -> tuple[list[int], service.RestoreResult]:
        """Restore a side-by-side copy; the marker rows it holds (the copy is removed)."""
        self.restores += 1
        to = self.world.root / "copies" / f"r{self.restores}"
        result = service.restore_database(
            settings or self.settings,
            request=service.RestoreRequest(
                target=target, to=to, timeline=timeline, backup_id=backup_id
            ),
        )
        try:
            socket = to.parent / f"{to.name}.run"
            conninfo = f"host={socket} port={result.port} user=postgres dbname=chairside"
            with psycopg.connect(conninfo, autocommit=True) as conn:
                rows = [int(r[0]) for r in conn.execute("SELECT id FROM markers ORDER BY id")]
        finally:
            stop_copy(result.data_dir)
            shutil.rmtree(to.parent, ignore_errors=True)
        return rows, result

    def in_place(self, target: RecoveryTarget) -> None:
        service.restore_database(
            self.settings,
            request=service.RestoreRequest(target=target, in_place=True, backup_after=False),
        )


def _time(mark: Mark) -> RecoveryTarget:
    return RecoveryTarget(TargetKind.TIME, time=mark.at)


@pytest.fixture(scope="module")
def branches() -> Iterator[Branches]:
    root = scratch_dir("chairside-timelines-")
    settings = load_settings(
        env="test", home=root / "home", database_url=None, embedded_redis=False,
        backup_repository=str(root / "repo"), wal_archive_timeout_seconds=0,
        log_level="WARNING", backup_retention_count=1, backup_retention_days=0,
        backup_retention_minimum=1,
    )  # fmt: skip
    stack = embedded_stack(settings)
    stack.postgres.init(wal_segsize_mb=1, durable=False)
    configure_archiving(stack.postgres, settings)
    stack.postgres.configure({"track_commit_timestamp": "on"})
    stack.start()
    world = Embedded(settings, stack, root)
    world.sql("CREATE TABLE markers (id int PRIMARY KEY)")
    made = Branches(world, {}, {})
    try:
        made.mark(1)
        made.backups["F0"] = take_full_backup(settings).manifest.id
        made.mark(2)
        made.archive()  # m2's segment lies between F0 and F1 (a gap test removes it)
        made.backups["F1"] = take_full_backup(settings).manifest.id
        made.mark(3)
        made.mark(4)
        made.restore_point("tl1-point")
        made.mark(5)
        made.archive()
        made.in_place(_time(made.marks[3]))
        assert world.markers() == [1, 2, 3]
        made.mark(6)
        made.mark(7)
        made.archive()
        made.backups["F2"] = take_full_backup(settings).manifest.id
        made.mark(8)
        made.restore_point("tl2-point")
        made.archive()
        made.in_place(_time(made.marks[6]))  # on timeline 2, before F2 (and m7)
        assert world.markers() == [1, 2, 3, 6]
        made.mark(9)
        made.archive()  # m9's segment ends here; m10's is the next one
        made.restore_point("tl3-point")
        made.mark(10)
        made.archive()
        yield made
    finally:
        for data_dir in (root / "home" / "pg").glob("restore-*/data"):
            stop_copy(data_dir)
        stack.stop()
        remove_tree(root)


def test_latest_follows_the_live_timeline_not_the_newest_backup(branches: Branches) -> None:
    rows, result = branches.restore(LATEST)
    assert rows == [1, 2, 3, 6, 9, 10]
    plan = result.preview.plan
    assert plan.timeline == 3 and "live cluster is on timeline 3" in plan.timeline_reason
    assert plan.backup.id == branches.backups["F1"]  # F2 is newer but cannot reach timeline 3

    rows, result = branches.restore(LATEST, timeline=2)
    assert rows == [1, 2, 3, 6, 7, 8] and result.preview.plan.backup.id == branches.backups["F2"]


def test_time_lsn_xid_and_restore_point_targets_land_on_the_asked_branch(
    branches: Branches,
) -> None:
    marks = branches.marks
    # The same moment on two branches: timeline 3 had rolled m4 back, timeline 1 had it.
    assert branches.restore(_time(marks[4]))[0] == [1, 2, 3]
    assert branches.restore(_time(marks[4]), timeline=1)[0] == [1, 2, 3, 4]
    lsn = RecoveryTarget(TargetKind.LSN, lsn=marks[6].lsn_after)
    assert branches.restore(lsn)[0] == [1, 2, 3, 6]
    rows, result = branches.restore(RecoveryTarget(TargetKind.XID, xid=marks[9].xid))
    assert rows == [1, 2, 3, 6, 9]
    assert result.preview.plan.target_record is not None
    assert result.preview.plan.target_record.timeline == 3
    rows, result = branches.restore(RecoveryTarget(TargetKind.NAME, name="tl2-point"), timeline=2)
    assert rows == [1, 2, 3, 6, 7, 8] and result.preview.plan.backup.id == branches.backups["F2"]


def test_bad_timelines_and_targets_off_the_branch_are_refused_naming_what_is_there(
    branches: Branches,
) -> None:
    def refused(target: RecoveryTarget, **options: object) -> str:
        request = service.RestoreRequest(target=target, **options)  # type: ignore[arg-type]
        with pytest.raises(ChairsideError) as caught:
            service.preview_restore(branches.settings, request=request)
        return caught.value.message

    assert "timeline 9 is not in the archive; it knows timelines 1, 2, 3" in refused(
        LATEST, timeline=9
    )
    f0, f1, f2 = (branches.backups[k] for k in ("F0", "F1", "F2"))
    message = refused(LATEST, timeline=3, backup_id=f2)
    assert f"backup {f2} (taken on timeline 2) cannot reach timeline 3" in message
    assert f1 in message and f0 in message
    with pytest.raises(TargetRecordNotFoundError) as caught:
        service.preview_restore(
            branches.settings,
            request=service.RestoreRequest(
                target=RecoveryTarget(TargetKind.NAME, name="tl1-point")
            ),
        )
    message = caught.value.message
    assert "not in the archived WAL of timeline 3's history" in message
    assert "is on timeline 1" in message and "--target-timeline 1" in message
    assert "searched timeline 1:" in message


def test_the_drill_restores_the_live_branch(branches: Branches) -> None:
    report = run_drill(branches.settings)
    assert report.passed, report.to_dict()
    assert report.backup_id == branches.backups["F1"] and report.timeline == 3
    assert report.rpo_seconds is not None and report.rpo_seconds < 1


def test_a_damaged_segment_after_the_target_and_a_gap_before_the_newer_backup_do_not_block(
    branches: Branches,
) -> None:
    repo = Path(branches.settings.backup_repository_url)
    clone = branches.world.root / "repo-damaged"
    shutil.copytree(repo, clone)
    settings = branches.settings.model_copy(update={"backup_repository": str(clone)})
    archive = access.wal_archive(settings)
    m9 = branches.marks[9]
    tl3 = sorted(
        (e for e in archive.entries() if e.kind == "segment" and e.timeline == 3),
        key=lambda e: e.name,
    )
    holding_m9 = next(e for e in tl3 if e.name.endswith(f"{(m9.lsn_after >> 20):08X}"))
    after = tl3[tl3.index(holding_m9) + 1]
    stored = clone / after.key
    stored.write_bytes(b"\0" * stored.stat().st_size)  # damaged beyond repair
    rows, _ = branches.restore(RecoveryTarget(TargetKind.LSN, lsn=m9.lsn_after), settings=settings)
    assert rows == [1, 2, 3, 6, 9]
    # The damaged segment is needed for the latest state: named, nothing restored.
    with pytest.raises(ChairsideError) as caught:
        branches.restore(LATEST, settings=settings)
    assert after.name in caught.value.message

    # A gap between F0 and F1: xid and name targets after it come from F1.
    gap = branches.world.root / "repo-gap"
    shutil.copytree(repo, gap)
    settings = branches.settings.model_copy(update={"backup_repository": str(gap)})
    m2 = branches.marks[2]
    archive = access.wal_archive(settings)
    holding_m2 = next(
        e for e in archive.entries()
        if e.kind == "segment" and e.timeline == 1 and int(e.name[16:], 16) == m2.lsn_after >> 20
    )  # fmt: skip
    (gap / holding_m2.key).unlink()
    rows, result = branches.restore(
        RecoveryTarget(TargetKind.NAME, name="tl3-point"), settings=settings
    )
    assert rows == [1, 2, 3, 6, 9] and result.preview.plan.backup.id == branches.backups["F1"]
    status = backup_status(settings).to_dict()
    live = status["pitr"][0]
    assert live["timeline"] == 3 and len(live["spans"]) == 2
    assert live["gaps"][0]["missing_wal"] == holding_m2.name


def test_status_windows_are_what_restores_and_prune_keeps_the_live_branch(
    branches: Branches,
) -> None:
    report = backup_status(branches.settings)
    windows = {w.timeline: w for w in report.pitr}
    assert [w.timeline for w in report.pitr][0] == 3 and report.pitr[0].live
    assert branches.backups["F2"] not in windows[3].backups
    assert windows[2].backups[-1] == branches.backups["F2"]
    live = windows[3]
    assert live.earliest is not None and live.latest is not None and not live.missing
    # Both ends of the live window restore, to exactly the rows of that moment.
    earliest = RecoveryTarget(TargetKind.TIME, time=live.earliest)
    assert branches.restore(earliest)[0] == [1]
    latest = RecoveryTarget(TargetKind.TIME, time=live.latest)
    assert branches.restore(latest)[0] == [1, 2, 3, 6, 9, 10]

    result = prune_backups(branches.settings, dry_run=False)
    plan = result.plan
    assert [m.id for m in plan.delete] == [branches.backups["F0"]]
    assert plan.live_timeline == 3
    kept = {t.timeline: t.kept for t in plan.timelines}
    assert kept == {3: [branches.backups["F1"]], 2: [branches.backups["F2"]],
                    1: [branches.backups["F1"]]}  # fmt: skip
    assert plan.wal and all(w.name[8:] < plan.wal_before[8:] for w in plan.wal if plan.wal_before)
    assert branches.restore(LATEST)[0] == [1, 2, 3, 6, 9, 10]
    after = backup_status(branches.settings)
    assert after.pitr[0].timeline == 3 and after.pitr[0].earliest is not None
    assert after.status.value in {"ok", "warning"}, after.to_dict()["checks"]


def test_restore_cli_takes_target_timeline_and_prints_why(branches: Branches) -> None:
    done = subprocess.run(
        [*_chairside(), "restore", "full", "--target-timeline", "latest", "--dry-run", "--json"],
        env=branches.world.env(), capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["timeline"] == 3 and "newest timeline in the archive" in data["timeline_reason"]
    bad = subprocess.run(
        [*_chairside(), "restore", "full", "--target-timeline", "newest", "--dry-run", "--json"],
        env=branches.world.env(), capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert bad.returncode == 2 and "'current'" in json.loads(bad.stdout)["error"]["message"]


def _chairside() -> list[str]:
    from tests.ops.backup.helpers import CHAIRSIDE

    return [CHAIRSIDE]
