"""Restored copies managed (issue 15, point 5): `restore copies` lists what `restore --to`
left running, `restore copies remove` stops and deletes them, and `maintenance system`
reports them and expires the old ones."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from chairside.ops.backup.basebackup import take_full_backup
from chairside.ops.maintenance.system import clean_system
from chairside.ops.restore.copies import list_copies
from chairside.ops.timeline.store import open_ops_store
from tests.ops.backup.helpers import backup_env
from tests.ops.restore.helpers import cli
from tests.support.servers import ClusterFactory

pytestmark = pytest.mark.slow


def _alive(pid: int) -> bool:
    """Running: a process that exited but is not reaped yet (a zombie) is not."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] not in ("Z", "X")


def test_copies_are_listed_removed_and_expired_by_maintenance(
    cluster_factory: ClusterFactory,
) -> None:
    with backup_env(cluster_factory) as env:
        take_full_backup(env.settings)
        done = cli(env, "restore", "full", "--to", str(env.root / "evening"), "--json")
        assert done.returncode == 0, done.stderr
        assert "restore copies remove" in json.dumps(json.loads(done.stdout)["notes"])

        listed = cli(env, "restore", "copies", "--json")
        assert listed.returncode == 0, listed.stderr
        (copy,) = json.loads(listed.stdout)["copies"]
        assert copy["data_dir"] == str(env.root / "evening")
        assert copy["running"] is True and copy["size_bytes"] > 1_000_000
        assert 0 <= copy["age_seconds"] < 600
        pid = copy["pid"]

        kept = clean_system(env.settings).checks(warning=0.99, critical=0.999)
        (check,) = [c for c in kept if c.name == "restored_copies"]
        assert "1 restored cop(ies) kept" in check.summary
        assert check.details["expired"] == []

        refused = cli(env, "restore", "copies", "remove", "--json")
        assert refused.returncode == 3  # no --yes off a terminal
        removed = cli(env, "restore", "copies", "remove", copy["id"], "--yes", "--json")
        assert removed.returncode == 0, removed.stderr
        assert [r["id"] for r in json.loads(removed.stdout)["removed"]] == [copy["id"]]
        assert not _alive(pid)
        assert not (env.root / "evening").exists()
        assert not (env.root / "evening.run").exists()
        assert list_copies(env.settings) == []

        # A copy older than the policy goes with the next `maintenance system`, and so
        # does one from before the registry, found by its layout under the home.
        stale = env.settings.home / "restores" / "20260101T000000Z" / "data"
        stale.mkdir(parents=True)
        (stale / "PG_VERSION").write_text("15\n")
        os.utime(stale.parent, (time.time() - 7200, time.time() - 7200))
        result = clean_system(env.settings.model_copy(update={"restore_copy_keep_hours": 1.0}))
        (check,) = [
            c for c in result.checks(warning=0.99, critical=0.999) if c.name == "restored_copies"
        ]
        assert [c["id"] for c in check.details["expired"]] == ["20260101T000000Z"]  # type: ignore[index,union-attr]
        assert not stale.parent.exists()
        kinds = [e.kind for e in open_ops_store(env.settings).recent(kind_prefix="restore.")]
        assert kinds.count("restore.copies_removed") == 2
