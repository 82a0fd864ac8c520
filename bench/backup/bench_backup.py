"""Backup benchmark: Chairside `backup full` against pgBackRest and plain pg_basebackup.

One run, one cluster, one data set: a pgbench database (``--scale``, 100 by default)
whose ``pgbench_accounts`` gets a random-text column, so compression ratios are
realistic rather than pgbench's 60:1. Each tool backs up the same cluster in turn; the
figures are printed with ratios against the anchors measured in the same run
(pgBackRest with ``compress-type=zst``, ``process-max=2``; plain ``pg_basebackup -Ft``).

    .venv/bin/python bench/backup/bench_backup.py --scale 10
    .venv/bin/python bench/backup/bench_backup.py --keep --root /tmp/bb   # then, faster:
    .venv/bin/python bench/backup/bench_backup.py --reuse --root /tmp/bb

Goals (issue 4): backup time <= 0.5x pgBackRest's, size <= 1.1x. Restore and PITR
timings are part B's: see ``bench/backup/bench_restore.py`` (it can reuse
:func:`prepare_cluster` and the repositories this script leaves with ``--keep``).
Run on demand, never in the test suite; the machine should be otherwise idle.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
    settings = _settings(cluster, root)
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


def _settings(cluster: PostgresCluster, root: Path) -> Settings:
    return load_settings(
        env="test",
        home=root / "home",
        database_url=cluster.url("bench"),
        backup_repository=str(root / "chairside-repo"),
        wal_archive_timeout_seconds=0,
    )


_STATE = "bench-backup-state.json"


def _save_state(cluster: PostgresCluster, root: Path, scale: int) -> None:
    state = {"port": cluster.port, "password": cluster.password, "scale": scale}
    (root / _STATE).write_text(json.dumps(state))


def kept_cluster(root: Path, state_file: str) -> tuple[PostgresCluster, Settings, dict[str, Any]]:
    """The cluster a ``--keep`` run left in ``root``, started again, and its saved state."""
    try:
        state: dict[str, Any] = json.loads((root / state_file).read_text())
    except FileNotFoundError:
        raise SystemExit(
            f"{root} holds no prepared benchmark (no {state_file}); run with --keep"
        ) from None
    cluster = PostgresCluster(
        data_dir=root / "pg" / "data",
        port=int(state["port"]),
        password=str(state["password"]),
        log_file=root / "pg" / "log" / "postgresql.log",
        socket_dir=root / "pg" / "run",
    )
    cluster.start()
    return cluster, _settings(cluster, root), state


def _reuse_cluster(root: Path, scale: int) -> tuple[PostgresCluster, Settings]:
    """The cluster an earlier ``--keep`` run prepared in ``root``, started again."""
    cluster, settings, state = kept_cluster(root, _STATE)
    if int(state["scale"]) != scale:
        cluster.stop()
        raise SystemExit(f"{root} holds a scale {state['scale']} data set, not {scale}")
    print(f"data set: reused from {root}, database size {_db_size(cluster)}")
    return cluster, settings


def _db_size(cluster: PostgresCluster) -> str:
    import psycopg

    with psycopg.connect(cluster.conninfo("bench")) as conn:
        row = conn.execute("SELECT pg_size_pretty(pg_database_size('bench'))").fetchone()
    return str(row[0]) if row else "?"


def _settle(cluster: PostgresCluster) -> None:
    """Checkpoint, flush and warm the page cache: every timed turn starts from one state.

    Without the checkpoint and sync, the first turn pays for writing out the freshly
    generated data set (and each later one for its predecessor's output) while it reads
    the cluster. Without the warming, whichever turn follows a pause reads the data set
    from disk while the others find it cached: on a VM whose host pages out memory left
    unused for about half a minute (DAMON reclaim), that cost the first turn 2-3 s.
    Called right before each timed section, after the turn's own preparation.
    """
    import psycopg

    with psycopg.connect(cluster.conninfo(), autocommit=True) as conn:
        conn.execute("CHECKPOINT")
    os.sync()
    for directory, dirs, files in os.walk(cluster.data_dir):
        if Path(directory).name == "pg_wal":
            dirs.clear()  # streamed or archived by the tools, not read from here
            continue
        for name in files:
            with contextlib.suppress(OSError), open(os.path.join(directory, name), "rb") as f:
                while f.read(1 << 20):
                    pass


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
    _settle(cluster)
    started = time.monotonic()
    result = take_full_backup(settings)
    seconds = time.monotonic() - started
    return Measurement("chairside backup full", seconds, result.manifest.stored_size)


def bench_chairside_encrypted(cluster: PostgresCluster, settings: Settings) -> Measurement:
    key_file = settings.home / "bench.key"
    if not key_file.exists():
        generate_key_file(key_file)
    encrypted = settings.model_copy(update={"backup_key_file": key_file})
    _settle(cluster)
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
    sets = root / "pgbackrest-repo" / "backup" / STANZA
    earlier = set(sets.iterdir()) if sets.is_dir() else set()
    _settle(cluster)
    started = time.monotonic()
    run_as(cluster.user, [*base, "backup", "--type=full"], timeout=3600)
    seconds = time.monotonic() - started
    # Only this turn's backup set: with --reuse the repository holds earlier ones too.
    new_sets = set(sets.iterdir()) - earlier  # "latest" is a link to the new set: once
    size = sum(_du(path) for path in new_sets if path.is_dir() and not path.is_symlink())
    return Measurement("pgBackRest backup (zst, 2 processes)", seconds, size)


def bench_pg_basebackup(cluster: PostgresCluster, root: Path) -> Measurement:
    target = root / "pg_basebackup"
    shutil.rmtree(target, ignore_errors=True)  # a --reuse run finds the last one's
    env = dict(os.environ, PGPASSWORD=cluster.password)
    _settle(cluster)
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
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="use the cluster a --keep run prepared in --root instead of building one (~2 min)",
    )
    args = parser.parse_args()
    if args.reuse and args.root is None:
        parser.error("--reuse needs the --root of an earlier --keep run")
    keep = args.keep or args.reuse  # a reused data set is kept for the next run too
    root = args.root or Path(f"/tmp/chairside-bench-{os.getpid()}")
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o755)
    cluster: PostgresCluster | None = None
    try:
        if args.reuse:
            cluster, settings = _reuse_cluster(root, args.scale)
        else:
            cluster, settings = prepare_cluster(root, args.scale)
            _save_state(cluster, root, args.scale)
        turns: list[Callable[[], Measurement]] = [
            lambda: bench_chairside(cluster, settings),
            lambda: bench_chairside_encrypted(cluster, settings),
            lambda: bench_pgbackrest(cluster, root),
            lambda: bench_pg_basebackup(cluster, root),
        ]
        results = []
        for turn in turns:
            results.append(turn())
        report(results)
    finally:
        if cluster is not None and not keep:
            cluster.stop()
        if not keep:
            shutil.rmtree(root, ignore_errors=True)
        else:
            print(f"kept: {root} (cluster on port {cluster.port if cluster else '?'})")


if __name__ == "__main__":
    main()
