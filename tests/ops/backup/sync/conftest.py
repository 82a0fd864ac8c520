"""Source repositories for sync tests, written through the real catalog and WAL archive.

Backups here are small synthetic payloads published exactly as ``backup full`` publishes
them (files, manifest, marker), with WAL pushed through :class:`WalArchive`, so the sync
sees the real format without a cluster per test.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from chairside.config import Settings, load_settings
from chairside.ops.backup.catalog import BackupCatalog
from chairside.ops.backup.manifest import Manifest, new_backup_id
from chairside.ops.backup.repository import Repository
from chairside.ops.backup.repository.local import LocalRepository
from chairside.ops.backup.repository.s3 import S3Repository
from chairside.ops.backup.walarchive import WalArchive, segment_name
from tests.support.seaweed import SeaweedServer

SEGMENT = 1024 * 1024
SYSID = "7437000000000000001"


@dataclass
class SourceBuilder:
    """Writes backups and WAL into a source repository the way Chairside does."""

    repository: Repository
    work: Path
    system_identifier: str = SYSID
    next_segment: int = 2
    clock: datetime = field(default_factory=lambda: datetime(2026, 11, 1, 3, 0, tzinfo=UTC))

    def __post_init__(self) -> None:
        self.catalog = BackupCatalog(self.repository)
        self.catalog.ensure_identity(system_identifier=self.system_identifier, pg_version=150000)
        self.archive = WalArchive(self.repository)

    def wal(self, count: int = 1) -> list[str]:
        """Archive ``count`` more segments (random content, 1 MB segment names)."""
        names = []
        for _ in range(count):
            name = segment_name(1, self.next_segment, SEGMENT)
            self.next_segment += 1
            path = self.work / name
            path.write_bytes(bytes(64) + os.urandom(4096) + bytes(60000))  # no long header
            self.archive.push(path)
            path.unlink()
            names.append(name)
        return names

    def backup(self, *, size: int = 200_000, complete: bool = True, wal: bool = True) -> str:
        """A full backup of two payload files needing its own WAL segment."""
        self.clock += timedelta(hours=1)
        backup_id = new_backup_id("full", self.clock)
        segno = self.next_segment
        start = segment_name(1, segno, SEGMENT)
        files = []
        for name, length in (("base.tar.zst", size), ("backup_manifest", 2000)):
            path = self.work / name
            path.write_bytes(os.urandom(length))
            files.append(self.catalog.store_file(backup_id, path))
            path.unlink()
        if wal:
            self.wal(1)
        manifest = Manifest(
            id=backup_id,
            type="full",
            pg_version=150000,
            system_identifier=self.system_identifier,
            start_time=self.clock,
            stop_time=self.clock + timedelta(seconds=5),
            files=tuple(files),
            timeline=1,
            start_lsn=f"0/{segno * SEGMENT + 0x28:X}",  # in its own segment
            stop_lsn=f"0/{segno * SEGMENT + 0x100:X}",
            start_wal=start,
            stop_wal=start,
            wal_segment_size=SEGMENT,
        )
        if complete:
            self.catalog.publish(manifest)
        return backup_id


@pytest.fixture
def source(tmp_path: Path) -> SourceBuilder:
    work = tmp_path / "work"
    work.mkdir()
    return SourceBuilder(LocalRepository(tmp_path / "primary"), work)


@pytest.fixture
def sync_settings(tmp_path: Path, seaweed: SeaweedServer, source: SourceBuilder) -> Settings:
    return load_settings(
        env="test",
        home=tmp_path / "home",
        backup_repository=source.repository.url,
        s3_multipart_threshold_mb=5,
        s3_multipart_chunk_mb=5,
        **seaweed.settings_overrides(),
    )


@pytest.fixture
def dr_url(seaweed: SeaweedServer) -> str:
    return f"s3://{seaweed.new_bucket('dr')}/chairside"


@pytest.fixture
def open_dr(sync_settings: Settings) -> Callable[[str], S3Repository]:
    return lambda url: S3Repository.from_url(url, sync_settings)
