"""`backup sync` throughput to a local SeaweedFS, against a plain boto3 upload of the same bytes.

    .venv/bin/python -m bench.dr.bench_sync [--backups 3] [--backup-mb 64] [--wal 64] [--rounds 2]

Builds a primary repository in the real format (backups published through the catalog,
WAL pushed through the WAL archive, incompressible payloads), starts SeaweedFS on
loopback, then alternates per round:

- anchor: every object of the repository uploaded with ``boto3``'s ``upload_file``
  (default transfer settings) into a fresh bucket, one after the other;
- sync: ``prepare_sync`` + ``execute_sync`` into another fresh bucket (planning,
  verification against the manifests, marker-last publication included).

Prints MB/s of each (best round) and sync's throughput as a ratio of the anchor's
(goal: at least 0.8).
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

from tests.support.seaweed import SeaweedServer

from chairside.config import load_settings
from chairside.ops.backup.catalog import BackupCatalog
from chairside.ops.backup.manifest import Manifest, new_backup_id
from chairside.ops.backup.repository.local import LocalRepository
from chairside.ops.backup.sync.operation import execute_sync, prepare_sync
from chairside.ops.backup.walarchive import WalArchive, segment_name

SEGMENT = 16 * 1024 * 1024


def build_source(root: Path, *, backups: int, backup_mb: int, wal: int) -> LocalRepository:
    """A primary repository with ``backups`` full backups and ``wal`` WAL segments."""
    from datetime import UTC, datetime, timedelta

    repository = LocalRepository(root / "primary")
    catalog = BackupCatalog(repository)
    catalog.ensure_identity(system_identifier="7437000000000000001", pg_version=150000)
    archive = WalArchive(repository, compression_level=1)
    work = root / "work"
    work.mkdir()
    segno = 2
    per_backup_wal = max(1, wal // backups)
    clock = datetime(2026, 11, 1, tzinfo=UTC)
    for _ in range(backups):
        clock += timedelta(hours=1)
        backup_id = new_backup_id("full", clock)
        start = segment_name(1, segno, SEGMENT)
        path = work / "base.tar.zst"
        path.write_bytes(os.urandom(backup_mb * 1024 * 1024))
        files = (catalog.store_file(backup_id, path),)
        for _ in range(per_backup_wal):
            name = segment_name(1, segno, SEGMENT)
            segno += 1
            # Half random, half zeros: WAL compresses somewhat, as real WAL does.
            (work / name).write_bytes(bytes(64) + os.urandom(SEGMENT // 2) + bytes(SEGMENT // 2))
            archive.push(work / name)
            (work / name).unlink()
        catalog.publish(
            Manifest(
                id=backup_id,
                type="full",
                pg_version=150000,
                system_identifier="7437000000000000001",
                start_time=clock,
                stop_time=clock,
                files=files,
                timeline=1,
                start_wal=start,
                stop_wal=start,
                wal_segment_size=SEGMENT,
            )
        )
    shutil.rmtree(work)
    return repository


def upload_with_boto3(server: SeaweedServer, repository: LocalRepository, bucket: str) -> int:
    """The anchor: every object uploaded once with boto3's upload_file."""
    client = server.client()
    sent = 0
    for info in repository.list():
        client.upload_file(str(repository.root / info.key), bucket, f"dr/{info.key}")
        sent += info.size
    return sent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backups", type=int, default=3)
    parser.add_argument("--backup-mb", type=int, default=64)
    parser.add_argument("--wal", type=int, default=24, help="WAL segments (16 MB each)")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="chairside-bench-dr-"))
    server = SeaweedServer(root / "seaweed")
    (root / "seaweed").mkdir()
    try:
        source = build_source(root, backups=args.backups, backup_mb=args.backup_mb, wal=args.wal)
        total = sum(i.size for i in source.list())
        server.start()
        settings = load_settings(
            env="test",
            home=root / "home",
            backup_repository=source.url,
            **server.settings_overrides(),
        )
        anchor_best = sync_best = float("inf")
        for round_no in range(1, args.rounds + 1):
            bucket = server.new_bucket("anchor")
            began = time.monotonic()
            sent = upload_with_boto3(server, source, bucket)
            anchor = time.monotonic() - began
            assert sent == total

            dr = f"s3://{server.new_bucket('sync')}/dr"
            began = time.monotonic()
            report = execute_sync(settings, prepare_sync(settings, target_url=dr))
            synced = time.monotonic() - began
            assert report.ok and report.bytes_sent == total, report.to_dict()
            print(
                f"round {round_no}: boto3 upload_file {total / 1e6 / anchor:7.1f} MB/s   "
                f"backup sync {total / 1e6 / synced:7.1f} MB/s"
            )
            anchor_best, sync_best = min(anchor_best, anchor), min(sync_best, synced)
        print(f"bytes per run: {total / 1e6:.1f} MB ({args.backups} backups, {args.wal} WAL)")
        print(f"anchor (plain boto3 upload_file): {total / 1e6 / anchor_best:.1f} MB/s")
        print(f"backup sync:                      {total / 1e6 / sync_best:.1f} MB/s")
        print(f"sync throughput / anchor = {anchor_best / sync_best:.2f}x (goal >= 0.8x)")
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
