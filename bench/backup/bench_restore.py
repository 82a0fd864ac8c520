"""Restore benchmark: Chairside full restore, PITR and validation against pgBackRest's.

One run, one cluster, one data set (``bench_backup.prepare_cluster``: pgbench with a
random-text column). Both tools archive the same WAL (``archive_command`` pushes to
both), both take a full backup, then pgbench writes more WAL and a target time is noted
in the middle of it. Measured, each from the command's start until the copy has finished
recovery and accepts writes (``pg_is_in_recovery()`` is false):

- full restore to the latest archived WAL: ``chairside restore full`` vs ``pgbackrest
  restore`` + start + recovery;
- PITR to the noted time: ``chairside restore pitr --target-time`` vs ``pgbackrest
  restore --type=time --target-action=promote``;
- validation: ``chairside backup validate`` (every checksum, decryption, WAL chain) vs
  ``pgbackrest verify``.

Ratios are against pgBackRest in the same run; with ``--rounds N`` the restore pairs are
repeated on the same backups and medians are reported. Before each timed restore the
page cache is flushed (``sync``), so neither side pays for the other's (or the
workload's) dirty pages; both copies are started and waited for by the same
``run_recovery`` (polling every 0.1 s). Goals
(issue 13): full restore at most 0.8x and PITR at most 0.9x pgBackRest's time, warm and
with ``--cold`` (the page cache dropped before every restore of either tool).

    .venv/bin/python bench/backup/bench_restore.py --scale 10 --seconds 20

Preparing the data set and both backups takes minutes; ``--keep DIR`` leaves them in
``DIR`` (cluster stopped) and ``--reuse DIR`` measures again on them without rebuilding.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_backup import (  # noqa: E402
    _set_archive_command,
    kept_cluster,
    pgbackrest_setup,
    prepare_cluster,
)

from chairside.config import Settings  # noqa: E402
from chairside.ops.backup.archiving import archive_command  # noqa: E402
from chairside.ops.backup.basebackup import take_full_backup  # noqa: E402
from chairside.ops.backup.validation.service import ValidationLevel, validate_backups  # noqa: E402
from chairside.ops.restore import service  # noqa: E402
from chairside.ops.restore.recovery import RestoredCluster, run_recovery  # noqa: E402
from chairside.ops.restore.targets import LATEST, build_target  # noqa: E402
from chairside.runtime.osuser import hand_over, run_as  # noqa: E402
from chairside.runtime.ports import free_port  # noqa: E402
from chairside.runtime.postgres import PostgresCluster  # noqa: E402


@dataclass
class Pair:
    what: str
    chairside: float
    pgbackrest: float


def archive_to_both(cluster: PostgresCluster, settings: Settings, pgbr: list[str]) -> None:
    """Every WAL segment goes to both repositories, so both can roll forward."""
    both = f"{archive_command(settings)} && {' '.join(pgbr)} archive-push %p"
    _set_archive_command(cluster, both)


def switch_and_wait(cluster: PostgresCluster, timeout: float = 900) -> None:
    with psycopg.connect(cluster.conninfo(), autocommit=True) as conn:
        row = conn.execute("SELECT pg_walfile_name(pg_switch_wal())").fetchone()
        assert row is not None
        segment = str(row[0])
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            done = conn.execute(
                "SELECT last_archived_wal >= %s FROM pg_stat_archiver", (segment,)
            ).fetchone()
            if done and done[0]:
                return
            time.sleep(0.2)
    raise SystemExit(f"{segment} was not archived in {timeout}s:\n{cluster.log_tail()}")


def workload(cluster: PostgresCluster, seconds: int) -> datetime:
    """pgbench for ``seconds``, split in two; the time between the halves is the target."""
    env = dict(os.environ, PGPASSWORD=cluster.password)
    argv = [
        str(cluster.bin_dir / "pgbench"), "-n", "-c", "2", "-T", str(max(1, seconds // 2)),
        "-h", cluster.host, "-p", str(cluster.port), "-U", "postgres", "bench",
    ]  # fmt: skip
    subprocess.run(argv, env=env, check=True, capture_output=True)
    target = datetime.now(UTC)
    time.sleep(0.2)
    subprocess.run(argv, env=env, check=True, capture_output=True)
    return target


COLD = False  # --cold: drop the page cache before every restore of either tool


def settle() -> None:
    """Start each timed restore from the same state: nothing left for the disk to write.

    Without it the first restore pays for the workload's dirty pages (and the previous
    restore's deleted files) being written back, and the second does not. With ``--cold``
    the page cache is dropped too (root only), as in a disaster restore, where the
    repository's files are not in memory.
    """
    os.sync()
    if COLD:
        Path("/proc/sys/vm/drop_caches").write_text("3\n")


def chairside_restore(settings: Settings, root: Path, name: str, target: str | None) -> float:
    request = service.RestoreRequest(
        target=LATEST if target is None else build_target(time=target), to=root / name
    )
    settle()
    started = time.monotonic()
    t0 = time.monotonic()
    result = service.restore_database(
        settings, request=request, step=lambda m: print(f"  {time.monotonic() - t0:6.2f}s {m}")
    )
    seconds = time.monotonic() - started
    _stop(Path(result.data_dir))
    shutil.rmtree(result.data_dir, ignore_errors=True)
    return seconds


def pgbackrest_restore(
    cluster: PostgresCluster, pgbr: list[str], root: Path, name: str, target: str | None
) -> float:
    data = root / name
    copy = RestoredCluster(
        data_dir=data, port=free_port(), password="", log_file=root / f"{name}.log",
        socket_dir=root / f"{name}.run", bin_dir=cluster.bin_dir, user=cluster.user,
    )  # fmt: skip
    options = [f"--pg1-path={data}"]
    if target is not None:
        options += ["--type=time", f"--target={target}", "--target-action=promote"]
    settle()
    started = time.monotonic()
    hand_over(data, cluster.user)
    run_as(cluster.user, [*pgbr, *options, "restore"], timeout=7200)
    # Same footing as Chairside's copy: its own port and socket, archiving off.
    hand_over(copy.socket_dir, cluster.user)
    copy.configure({
        "port": str(copy.port), "unix_socket_directories": str(copy.socket_dir),
        "archive_mode": "off",
    })  # fmt: skip
    # The same start and the same wait for the end of recovery as Chairside's copy.
    run_recovery(copy, timeout=7200)
    seconds = time.monotonic() - started
    copy.stop(mode="immediate")
    shutil.rmtree(data, ignore_errors=True)
    return seconds


def _stop(data_dir: Path) -> None:
    pg_ctl = shlex.quote(str(Path(shutil.which("pg_ctl") or "/usr/lib/postgresql/15/bin/pg_ctl")))
    subprocess.run(
        ["su", "postgres", "-c", f"{pg_ctl} -D {shlex.quote(str(data_dir))} -m immediate stop"],
        capture_output=True, check=False,
    )  # fmt: skip


def median_pair(pairs: tuple[Pair, ...]) -> Pair:
    """The median of each side over the rounds (each side's own median)."""
    return Pair(
        pairs[0].what,
        statistics.median(p.chairside for p in pairs),
        statistics.median(p.pgbackrest for p in pairs),
    )


def report(pairs: list[Pair]) -> None:
    print()
    print(f"page cache: {'dropped before every restore (--cold)' if COLD else 'warm'}")
    print(f"{'':34} {'chairside s':>12} {'pgBackRest s':>13} {'ratio':>7}  goal")
    for pair in pairs:
        ratio = pair.chairside / pair.pgbackrest
        limit = 0.8 if "full" in pair.what else 0.9 if "PITR" in pair.what else None
        goal = "-" if limit is None else f"<= {limit:.2f}"
        verdict = "" if limit is None else (" met" if ratio <= limit else " NOT met")
        print(
            f"{pair.what:34} {pair.chairside:12.2f} {pair.pgbackrest:13.2f} {ratio:7.2f}  "
            f"{goal}{verdict}"
        )


_STATE = "bench-state.json"


def prepare(root: Path, scale: int, seconds: int) -> tuple[PostgresCluster, Settings, str]:
    """The cluster, both repositories with a full backup each, WAL after them, the target."""
    cluster, settings = prepare_cluster(root, scale)
    pgbr = pgbackrest_setup(cluster, root)
    archive_to_both(cluster, settings, pgbr)
    run_as(cluster.user, [*pgbr, "stanza-create"], timeout=600)
    switch_and_wait(cluster)
    take_full_backup(settings)
    run_as(cluster.user, [*pgbr, "backup", "--type=full"], timeout=7200)
    target = workload(cluster, seconds).isoformat(sep=" ")
    switch_and_wait(cluster)
    state = {
        "port": cluster.port,
        "password": cluster.password,
        "target": target,
        "scale": scale,
        "seconds": seconds,
    }
    (root / _STATE).write_text(json.dumps(state))
    return cluster, settings, target


def reuse(root: Path) -> tuple[PostgresCluster, Settings, str]:
    """What ``prepare`` left in ``root`` (with ``--keep``), the cluster started again."""
    cluster, settings, state = kept_cluster(root, _STATE)
    print(f"reusing {root}: scale {state['scale']}, {state['seconds']}s of pgbench")
    return cluster, settings, str(state["target"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=int, default=100, help="pgbench scale (100 = ~2 GB)")
    parser.add_argument("--seconds", type=int, default=60, help="pgbench time after backups")
    parser.add_argument("--root", type=Path, default=None, help="work directory (default: /tmp)")
    parser.add_argument(
        "--rounds", type=int, default=1, help="restore pairs to run on the same backups (medians)"
    )
    parser.add_argument(
        "--keep", type=Path, default=None, help="prepare in this directory and leave it there"
    )
    parser.add_argument(
        "--reuse", type=Path, default=None, help="measure on what --keep left in this directory"
    )
    parser.add_argument("--skip-validate", action="store_true", help="restores only")
    parser.add_argument(
        "--cold", action="store_true", help="drop the page cache before every restore (root)"
    )
    args = parser.parse_args()
    global COLD
    COLD = args.cold
    kept = args.keep or args.reuse
    root = kept or args.root or Path(f"/tmp/chairside-bench-restore-{os.getpid()}")
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o755)
    cluster: PostgresCluster | None = None
    try:
        if args.reuse is not None:
            cluster, settings, target = reuse(root)
        else:
            cluster, settings, target = prepare(root, args.scale, args.seconds)
        pgbr = pgbackrest_setup(cluster, root)
        print(f"backups taken; pgbench after them; PITR target {target}")
        rounds: list[list[Pair]] = []
        for number in range(1, args.rounds + 1):
            if args.rounds > 1:
                print(f"round {number} of {args.rounds}")
            rounds.append(
                [
                    Pair(
                        "full restore (latest WAL)",
                        chairside_restore(settings, root, "cs-full", None),
                        pgbackrest_restore(cluster, pgbr, root, "br-full", None),
                    ),
                    Pair(
                        "PITR restore (mid-workload time)",
                        chairside_restore(settings, root, "cs-pitr", target),
                        pgbackrest_restore(cluster, pgbr, root, "br-pitr", target),
                    ),
                ]
            )
            if args.rounds > 1:
                report(rounds[-1])
        pairs = [median_pair(same) for same in zip(*rounds, strict=True)]
        if not args.skip_validate:
            started = time.monotonic()
            run = validate_backups(settings, level=ValidationLevel.CONTINUITY)
            validate_seconds = time.monotonic() - started
            assert run.status.value == "ok", run.to_dict()
            started = time.monotonic()
            run_as(cluster.user, [*pgbr, "verify"], timeout=7200)
            pairs.append(
                Pair("validate vs pgbackrest verify", validate_seconds, time.monotonic() - started)
            )
        if args.rounds > 1:
            print(f"\nmedians of {args.rounds} rounds (validation: one run)")
        report(pairs)
    finally:
        if cluster is not None:
            cluster.stop()
        if kept is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
