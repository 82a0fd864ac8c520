"""Data generators and probes for restore tests: marker rows with exact commit times.

``track_commit_timestamp`` makes PostgreSQL keep each transaction's commit time, the
very timestamp ``recovery_target_time`` compares against, so a test knows to the
microsecond which marker rows a restore to a given time must contain. Each marker is
padded and followed by a WAL switch, so the markers lie in different segments.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import psycopg

from chairside.config import Settings
from chairside.ops.restore.service import RestoreResult
from chairside.runtime.osuser import run_as, server_user
from tests.ops.backup.helpers import CHAIRSIDE, BackupEnv


@dataclass(frozen=True)
class MarkerRow:
    """One committed marker: its id, the commit time PostgreSQL recorded, its LSN after."""

    id: int
    committed_at: datetime
    lsn_after: str


def track_commit_times(env: BackupEnv) -> None:
    """Turn on track_commit_timestamp (needs a restart) and create the markers table."""
    env.cluster.configure({"track_commit_timestamp": "on"})
    env.cluster.stop()
    env.cluster.start()
    env.sql("CREATE TABLE IF NOT EXISTS markers (id int PRIMARY KEY, pad text)")


def write_markers(env: BackupEnv, ids: range, *, pad_bytes: int = 200_000) -> list[MarkerRow]:
    """Commit one marker per id, each in its own transaction and WAL segment."""
    rows = []
    with psycopg.connect(env.cluster.conninfo(), autocommit=True) as conn:
        for marker_id in ids:
            conn.execute(
                "INSERT INTO markers VALUES (%s, repeat(md5(%s::text), %s))",
                (marker_id, marker_id, pad_bytes // 32),
            )
            row = conn.execute(
                "SELECT pg_xact_commit_timestamp(xmin), pg_current_wal_insert_lsn()::text "
                "FROM markers WHERE id = %s",
                (marker_id,),
            ).fetchone()
            assert row is not None and row[0] is not None
            rows.append(MarkerRow(marker_id, row[0], str(row[1])))
            conn.execute("SELECT pg_switch_wal()")
    env.switch_and_wait()
    return rows


def marker_ids(conninfo: str) -> list[int]:
    """The marker ids present in a (restored) cluster."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        return [int(r[0]) for r in conn.execute("SELECT id FROM markers ORDER BY id")]


def copy_conninfo(result: RestoreResult) -> str:
    """How to reach a restored copy: its private socket, trusted locally."""
    socket_dir = Path(result.data_dir).parent / f"{Path(result.data_dir).name}.run"
    return f"host={socket_dir} port={result.port} user=postgres dbname=postgres"


def stop_copy(data_dir: str | Path) -> None:
    """Stop a restored copy left running by a restore."""
    pg_ctl = str(Path(_bin_dir()) / "pg_ctl")
    run_as(server_user(), [pg_ctl, "-D", str(data_dir), "-m", "immediate", "stop"], check=False)


def cloned_repository(env: BackupEnv, name: str) -> tuple[Path, Settings]:
    """A copy of the env's repository (to damage) and settings that point at it."""
    target = env.root / f"repo-{name}"
    shutil.copytree(env.repo, target)
    return target, env.settings.model_copy(update={"backup_repository": str(target)})


def cli(
    env: BackupEnv, *args: str, settings: Settings | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the real `chairside` against ``env`` (optionally another repository)."""
    environment = env.env()
    if settings is not None:
        environment["CHAIRSIDE_BACKUP_REPOSITORY"] = settings.backup_repository_url
        if settings.backup_key_file is not None:
            environment["CHAIRSIDE_BACKUP_KEY_FILE"] = str(settings.backup_key_file)
    return subprocess.run(
        [CHAIRSIDE, *args], env=environment, capture_output=True, text=True, timeout=180
    )


def _bin_dir() -> Path:
    from chairside.runtime.binaries import find_pg_bin_dir

    return find_pg_bin_dir()
