"""Drill RTO against PostgreSQL's own fastest copy, on a pgbench database, in the same run.

    .venv/bin/python -m bench.dr.bench_drill [--scale 20] [--rounds 2] [--from-s3]

Creates a cluster archiving into a local repository, fills it with ``pgbench -i -s
SCALE``, takes ``backup full`` (and, with ``--from-s3``, syncs it to a local SeaweedFS
and drills from there). Then per round:

- anchor: the same backup restored by hand from the local repository (copy the tar
  files, ``tar --zstd -x``, ``pg_ctl start``, until ``SELECT 1`` answers): no checksums,
  no WAL archive replay, no catalog, the floor for any restore of that backup;
- drill: ``chairside drill`` (fetch and verify the backup, unpack, replay archived WAL,
  promote, until ``SELECT 1`` answers = its RTO; then the checks and clean-up).

Prints each RTO and the drill's as a ratio of the anchor.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import time
from pathlib import Path

import psycopg
from tests.ops.backup.helpers import make_settings
from tests.support.seaweed import SeaweedServer
from tests.support.servers import ClusterFactory, scratch_dir

from chairside.ops.backup.archiving import configure_archiving
from chairside.ops.backup.basebackup import take_full_backup
from chairside.ops.backup.sync.operation import execute_sync, prepare_sync
from chairside.ops.drill.service import run_drill
from chairside.runtime.osuser import hand_over, run_as, server_user
from chairside.runtime.ports import free_port


def anchor_copy(backup_dir: Path, bin_dir: Path, root: Path) -> float:
    """Seconds from nothing to a hand-restored copy of the same backup answering a query.

    What an operator would do without Chairside: copy the stored tar files, untar them
    with ``tar --zstd``, start PostgreSQL (crash recovery from backup_label and the
    included WAL), query. No checksums, no archive replay, no catalog.
    """
    user = server_user()
    target = root / f"anchor-{secrets.token_hex(3)}"
    began = time.monotonic()
    hand_over(target, user)
    files = root / f"anchor-files-{secrets.token_hex(3)}"
    shutil.copytree(backup_dir, files)
    files.chmod(0o755)
    run_as(user, ["tar", "--zstd", "-xf", str(files / "base.tar.zst"), "-C", str(target)])
    if (files / "pg_wal.tar.zst").exists():
        wal = target / "pg_wal"
        run_as(user, ["tar", "--zstd", "-xf", str(files / "pg_wal.tar.zst"), "-C", str(wal)])
    copy_port = free_port()
    run_as(
        user,
        [
            str(bin_dir / "pg_ctl"), "-D", str(target), "-w", "-t", "600",
            "-l", str(target / "anchor.log"),
            "-o", f"-p {copy_port} -k {target} -c archive_mode=off -c listen_addresses=''",
            "start",
        ],
        timeout=600,
    )  # fmt: skip
    with psycopg.connect(f"host={target} port={copy_port} user=postgres dbname=postgres") as conn:
        conn.execute("SELECT 1")
    elapsed = time.monotonic() - began
    run_as(user, [str(bin_dir / "pg_ctl"), "-D", str(target), "-m", "immediate", "stop"])
    shutil.rmtree(target, ignore_errors=True)
    shutil.rmtree(files, ignore_errors=True)
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", type=int, default=20, help="pgbench scale (~15 MB each)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--from-s3", action="store_true", help="drill from a DR copy on S3")
    args = parser.parse_args()

    root = scratch_dir("chairside-bench-drill-")
    factory = ClusterFactory(root / "clusters")
    server = SeaweedServer(root / "seaweed") if args.from_s3 else None
    try:
        cluster = factory.make(wal_segsize_mb=None)
        overrides = server.settings_overrides() if server else {}
        if server:
            (root / "seaweed").mkdir()
            server.start()
        settings = make_settings(root, cluster, **overrides)
        configure_archiving(cluster, settings)
        cluster.stop()
        cluster.start()
        env = {"PGPASSWORD": cluster.password}
        run_as(
            server_user(),
            [
                str(cluster.bin_dir / "pgbench"), "-i", "-q", "-s", str(args.scale),
                "-h", "127.0.0.1", "-p", str(cluster.port), "-U", "postgres", "postgres",
            ],
            env=env, timeout=1800,
        )  # fmt: skip
        backup = take_full_backup(settings)
        size_mb = backup.manifest.total_size / 1e6
        repository = None
        if server:
            repository = f"s3://{server.new_bucket('dr')}/chairside"
            execute_sync(settings, prepare_sync(settings, target_url=repository))
        backup_dir = Path(settings.backup_repository_url) / "backups" / backup.manifest.id
        anchors, rtos = [], []
        for round_no in range(1, args.rounds + 1):
            anchor = anchor_copy(backup_dir, cluster.bin_dir, root)
            report = run_drill(settings, repository=repository)
            assert report.passed and report.rto_seconds is not None, report.to_dict()
            anchors.append(anchor)
            rtos.append(report.rto_seconds)
            print(
                f"round {round_no}: hand restore {anchor:6.2f}s   drill RTO "
                f"{report.rto_seconds:6.2f}s   (drill total {report.phases['total']:.2f}s)"
            )
        best_anchor, best_rto = min(anchors), min(rtos)
        where = "DR copy on SeaweedFS" if server else "local repository"
        print(f"pgbench scale {args.scale}: backup {size_mb:.0f} MB (compressed), from {where}")
        print(f"anchor (cp + tar --zstd -x + pg_ctl start): {best_anchor:.2f}s")
        print(f"drill RTO:                                  {best_rto:.2f}s")
        print(f"drill RTO / anchor = {best_rto / best_anchor:.2f}x")
    finally:
        if server:
            server.stop()
        factory.stop_all()
        shutil.rmtree(root, ignore_errors=True)
        os.environ.pop("PGPASSWORD", None)


if __name__ == "__main__":
    main()
