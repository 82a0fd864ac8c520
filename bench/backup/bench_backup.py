"""Backup benchmark: Chairside `backup full` against pgBackRest and plain pg_basebackup.

One run, one cluster, one data set: a pgbench database (``--scale``, 100 by default)
whose ``pgbench_accounts`` gets a random-text column, so compression ratios are
realistic rather than pgbench's 60:1. Each tool backs up the same cluster in turn; the
figures are printed with ratios against the anchors measured in the same run
(pgBackRest with ``compress-type=zst``, ``process-max=2``; plain ``pg_basebackup -Ft``).

    .venv/bin/python bench/backup/bench_backup.py --scale 10

Goals (issue 4): backup time <= 0.5x pgBackRest's, size <= 1.1x. Restore and PITR
timings are part B's: see ``bench/backup/bench_restore.py`` (it can reuse
:func:`prepare_cluster` and the repositories this script leaves with ``--keep``).
Run on demand, never in the test suite; the machine should be otherwise idle.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))

from chairside.config import Settings, load_settings  # noqa: E402
from chairside.ops.backup.archiving import archive_command, configure_archiving  # noqa: E402
from chairside.ops.backup.basebackup import take_full_backup  # noqa: E402
from chairside.ops.backup.codec import generate_key_file  # noqa: E402
from chairside.runtime.osuser import hand_over, run_as  # noqa: E402
from chairside.runtime.ports import free_port  # noqa: E402
from chairside.runtime.postgres import PostgresCluster  # noqa: E402

STANZA = "bench"


@dataclass
class Measurement:
    name: str
    seconds: float
    size: int


def prepare_cluster(root: Path, scale: int) -> tuple[PostgresCluster, Settings]:
    """A durable cluster (16 MB segments) with a pgbench database and a random-text column."""
    cluster = PostgresCluster(
        data_dir=root / "pg" / "data",
        port=free_port(),
        password=secrets.token_urlsafe(12),
        log_file=root / "pg" / "log" / "postgresql.log",
        socket_dir=root / "pg" / "run",
    )
    cluster.init()
    cluster.configure({"max_wal_size": "4GB", "checkpoint_timeout": "30min"})
    settings = load_settings(
        env="test",
        home=root / "home",
        database_url=cluster.url("bench"),
        backup_repository=str(root / "chairside-repo"),
        wal_archive_timeout_seconds=0,
    )
    configure_archiving(cluster, settings)
    cluster.start()
    cluster.create_database("bench")
    env = dict(os.environ, PGPASSWORD=cluster.password)
    conn = ["-h", cluster.host, "-p", str(cluster.port), "-U", "postgres"]
    started = time.monotonic()
    subprocess.run(
        [str(cluster.bin_dir / "pgbench"), "-i", "-q", "-s", str(scale), *conn, "bench"],
        env=env,
        check=True,
        capture_output=True,
    )
    # A volatile default rewrites the table with a different value per row.
    statements = [
        "ALTER TABLE pgbench_accounts ADD COLUMN note text "
        "DEFAULT md5(random()::text) || ' ' || md5(random()::text)",
        "VACUUM ANALYZE",
        "CHECKPOINT",
    ]
    commands = [arg for statement in statements for arg in ("-c", statement)]
    subprocess.run(
        [str(cluster.bin_dir / "psql"), *conn, "-d", "bench", "-q", *commands],
        env=env,
        check=True,
        capture_output=True,
    )
    print(
        f"data set: pgbench scale {scale} + random text, ready in "
        f"{time.monotonic() - started:.1f} s, database size {_db_size(cluster)}"
    )
    return cluster, settings


def _db_size(cluster: PostgresCluster) -> str:
    import psycopg

    with psycopg.connect(cluster.conninfo("bench")) as conn:
        row = conn.execute("SELECT pg_size_pretty(pg_database_size('bench'))").fetchone()
    return str(row[0]) if row else "?"


def _settle(cluster: PostgresCluster) -> None:
    """Checkpoint and flush the page cache before a timed turn.

    Otherwise the first turn pays for writing out the freshly generated data set (and each
    later one for its predecessor's output) while it reads the cluster.
    """
    import psycopg

    with psycopg.connect(cluster.conninfo(), autocommit=True) as conn:
        conn.execute("CHECKPOINT")
    os.sync()


def _set_archive_command(cluster: PostgresCluster, command: str) -> None:
    cluster.configure({"archive_command": command})
    cluster.reload()
    time.sleep(0.5)


def _wait_archiver_idle(cluster: PostgresCluster, timeout: float = 600) -> None:
    """Let the previous turn's archiving finish, so it does not run during the next one."""
    import psycopg

    deadline = time.monotonic() + timeout
    with psycopg.connect(cluster.conninfo(), autocommit=True) as conn:
        while time.monotonic() < deadline:
            row = conn.execute(
                "SELECT pg_walfile_name(pg_current_wal_lsn()), last_archived_wal "
                "FROM pg_stat_archiver"
            ).fetchone()
            assert row is not None
            current, archived = str(row[0]), str(row[1] or "")
            if archived and archived[8:] >= _previous(current)[8:]:
                return
            time.sleep(0.5)


def _previous(segment: str) -> str:
    return segment[:16] + f"{max(int(segment[16:], 16) - 1, 0):08X}"


def _du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def bench_chairside(cluster: PostgresCluster, settings: Settings) -> Measurement:
    _set_archive_command(cluster, archive_command(settings))
    _wait_archiver_idle(cluster)
    started = time.monotonic()
    result = take_full_backup(settings)
    seconds = time.monotonic() - started
    return Measurement("chairside backup full", seconds, result.manifest.stored_size)


def bench_chairside_encrypted(cluster: PostgresCluster, settings: Settings) -> Measurement:
    key_file = settings.home / "bench.key"
    if not key_file.exists():
        generate_key_file(key_file)
    encrypted = settings.model_copy(update={"backup_key_file": key_file})
    started = time.monotonic()
    result = take_full_backup(encrypted)
    seconds = time.monotonic() - started
    return Measurement("chairside backup full (AES-256-GCM)", seconds, result.manifest.stored_size)


def pgbackrest_setup(cluster: PostgresCluster, root: Path) -> list[str]:
    """A pgBackRest stanza config for the cluster (zst, 2 processes); its base command."""
    repo = root / "pgbackrest-repo"
    hand_over(repo, cluster.user, 0o750)
    hand_over(root / "pgbackrest-log", cluster.user, 0o750)
    conf = root / "pgbackrest.conf"
    conf.write_text(
        "[global]\n"
        f"repo1-path={repo}\n"
        "compress-type=zst\n"
        "process-max=2\n"
        f"log-path={root / 'pgbackrest-log'}\n"
        "log-level-console=warn\n"
        "start-fast=y\n"
        f"lock-path={root / 'pgbackrest-log'}\n"
        f"[{STANZA}]\n"
        f"pg1-path={cluster.data_dir}\n"
        f"pg1-port={cluster.port}\n"
        f"pg1-socket-path={cluster.socket_dir}\n"
        "pg1-user=postgres\n"
    )
    conf.chmod(0o644)
    return ["pgbackrest", f"--config={conf}", f"--stanza={STANZA}"]


def bench_pgbackrest(cluster: PostgresCluster, root: Path) -> Measurement:
    base = pgbackrest_setup(cluster, root)
    _set_archive_command(cluster, " ".join([*base, "archive-push", "%p"]))
    run_as(cluster.user, [*base, "stanza-create"], timeout=600)
    run_as(cluster.user, [*base, "check"], timeout=600)
    _wait_archiver_idle(cluster)
    started = time.monotonic()
    run_as(cluster.user, [*base, "backup", "--type=full"], timeout=3600)
    seconds = time.monotonic() - started
    return Measurement(
        "pgBackRest backup (zst, 2 processes)", seconds, _du(root / "pgbackrest-repo" / "backup")
    )


def bench_pg_basebackup(cluster: PostgresCluster, root: Path) -> Measurement:
    target = root / "pg_basebackup"
    env = dict(os.environ, PGPASSWORD=cluster.password)
    started = time.monotonic()
    subprocess.run(
        [
            str(cluster.bin_dir / "pg_basebackup"),
            "-d",
            f"host={cluster.host} port={cluster.port} user=postgres",
            "-D",
            str(target),
            "-Ft",
            "-X",
            "stream",
            "--checkpoint=fast",
        ],  # fmt: skip
        env=env,
        check=True,
        capture_output=True,
    )
    seconds = time.monotonic() - started
    return Measurement("plain pg_basebackup -Ft", seconds, _du(target))


def report(results: list[Measurement]) -> None:
    by_name = {m.name.split()[0]: m for m in reversed(results)}  # first of each tool wins
    anchor = by_name["pgBackRest"]
    plain = by_name["plain"]
    print()
    print(
        f"{'':40} {'seconds':>9} {'MB':>9} {'time/pgBR':>10} {'size/pgBR':>10} {'time/pg_bb':>10}"
    )
    for m in results:
        print(
            f"{m.name:40} {m.seconds:9.2f} {m.size / 1e6:9.1f} "
            f"{m.seconds / anchor.seconds:10.2f} {m.size / anchor.size:10.2f} "
            f"{m.seconds / plain.seconds:10.2f}"
        )
    chairside = by_name["chairside"]
    print()
    print(
        f"goal backup time <= 0.5x pgBackRest: {chairside.seconds / anchor.seconds:.2f}x "
        f"({'met' if chairside.seconds <= 0.5 * anchor.seconds else 'NOT met'})"
    )
    print(
        f"goal backup size <= 1.1x pgBackRest: {chairside.size / anchor.size:.2f}x "
        f"({'met' if chairside.size <= 1.1 * anchor.size else 'NOT met'})"
    )
    print("restore / PITR / verify timings: bench/backup/bench_restore.py (part B)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=int, default=100, help="pgbench scale (100 = ~2 GB)")
    parser.add_argument("--root", type=Path, default=None, help="work directory (default: /tmp)")
    parser.add_argument("--keep", action="store_true", help="keep the cluster and repositories")
    args = parser.parse_args()
    root = args.root or Path(f"/tmp/chairside-bench-{os.getpid()}")
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o755)
    cluster: PostgresCluster | None = None
    try:
        cluster, settings = prepare_cluster(root, args.scale)
        turns: list[Callable[[], Measurement]] = [
            lambda: bench_chairside(cluster, settings),
            lambda: bench_chairside_encrypted(cluster, settings),
            lambda: bench_pgbackrest(cluster, root),
            lambda: bench_pg_basebackup(cluster, root),
        ]
        results = []
        for turn in turns:
            _settle(cluster)
            results.append(turn())
        report(results)
    finally:
        if cluster is not None and not args.keep:
            cluster.stop()
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
        else:
            print(f"kept: {root} (cluster on port {cluster.port if cluster else '?'})")


if __name__ == "__main__":
    main()
