"""The whole disaster-recovery story through the real `chairside` program.

A primary archives into its repository; `backup sync` copies the backup and WAL to a DR
repository on S3; `backup status` shows the copy in sync; damage in the copy is named by
`backup validate --from DR` and mended by a full sync; then the primary cluster *and*
its repository are destroyed, and the database comes back from the DR copy alone, by
`restore full --from DR` and by `drill --from DR`.
"""

from __future__ import annotations

import json
import shutil
import subprocess

import psycopg
import pytest

from chairside.ops.backup.basebackup import take_full_backup
from tests.ops.backup.helpers import CHAIRSIDE, BackupEnv
from tests.ops.restore.helpers import stop_copy
from tests.support.seaweed import SeaweedServer
from tests.support.servers import remove_tree, scratch_dir

from .conftest import add_booking

pytestmark = pytest.mark.slow


def chairside(env: BackupEnv, seaweed: SeaweedServer, *args: str) -> tuple[int, dict[str, object]]:
    """Run `chairside ARGS --json` with the primary's and the S3 server's settings."""
    result = subprocess.run(
        [CHAIRSIDE, *args, "--json"],
        env={**env.env(), **seaweed.environment()},
        capture_output=True,
        text=True,
        timeout=180,
    )
    try:
        return result.returncode, json.loads(result.stdout)
    except json.JSONDecodeError:
        raise AssertionError(f"no JSON from {args}: {result.stdout}\n{result.stderr}") from None


def test_the_database_comes_back_from_the_dr_copy_alone(
    primary: BackupEnv, seaweed: SeaweedServer
) -> None:
    backup_id = take_full_backup(primary.settings).manifest.id
    add_booking(primary, 2)
    primary.switch_and_wait()
    bucket = seaweed.new_bucket("dr")
    dr = f"s3://{bucket}/chairside"

    code, synced = chairside(primary, seaweed, "backup", "sync", "incremental", "--to", dr)
    assert code == 0, synced
    assert synced["backups_sent"] == [backup_id] and synced["wal_sent"] > 0

    code, status = chairside(primary, seaweed, "backup", "status")
    repositories = {r["url"]: r for r in status["repositories"]}  # type: ignore[attr-defined]
    assert repositories[dr]["role"] == "dr" and repositories[dr]["lag_seconds"] == 0
    assert repositories[dr]["newest_backup"] == backup_id
    assert repositories[str(primary.repo)]["role"] == "primary"

    # Damage one object of the DR copy: validation from the DR repository names it.
    key = f"chairside/backups/{backup_id}/base.tar.zst"
    content = bytearray(seaweed.client().get_object(Bucket=bucket, Key=key)["Body"].read())
    content[len(content) // 2] ^= 0x40
    seaweed.client().put_object(Bucket=bucket, Key=key, Body=bytes(content))
    code, validated = chairside(
        primary, seaweed, "backup", "validate", "--from", dr, "--integrity-only"
    )
    assert code == 2
    assert "base.tar.zst" in json.dumps(validated)
    code, mended = chairside(primary, seaweed, "backup", "sync", "full", "--to", dr)
    assert code == 0 and mended["backups_sent"] == [backup_id]
    code, validated = chairside(
        primary, seaweed, "backup", "validate", "--from", dr, "--integrity-only"
    )
    assert code == 0, validated

    # The disaster: the primary cluster and its repository are gone.
    primary.cluster.stop(mode="immediate")
    shutil.rmtree(primary.cluster.data_dir)
    shutil.rmtree(primary.repo)

    target = scratch_dir("chairside-dr-restore-")
    try:
        code, restored = chairside(
            primary, seaweed, "restore", "full", "--from", dr, "--to", str(target / "pg"), "--yes"
        )
        assert code == 0, restored
        socket_dir = target / "pg.run"
        conninfo = f"host={socket_dir} port={restored['port']} user=postgres dbname=postgres"
        with psycopg.connect(conninfo) as conn:
            row = conn.execute("SELECT count(*) FROM bookings").fetchone()
        assert row == (2,)  # the booking made after the backup came through the DR WAL
    finally:
        stop_copy(target / "pg")
        remove_tree(target)

    code, drill = chairside(primary, seaweed, "drill", "--from", dr)
    assert code == 0, drill
    assert drill["passed"] is True and drill["backup_id"] == backup_id
    assert drill["smoke"]["bookings_rows"] == 2  # type: ignore[index]
    assert drill["rpo_seconds"] is None  # no primary left to compare with
    assert "did not answer" in json.dumps(drill["checks"])
    assert drill["cleaned_up"] is True
