"""Checksums taken while a file is written: pg_basebackup's archives, encrypted uploads."""

from __future__ import annotations

import hashlib
import os
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from chairside.ops.backup import codec
from chairside.ops.backup.basebackup import ArchiveFollower
from chairside.ops.backup.catalog import BackupCatalog, backup_key
from chairside.ops.backup.codec import BackupKey
from chairside.ops.backup.manifest import new_backup_id
from chairside.ops.backup.repository.local import LocalRepository

KEY = BackupKey(b"k" * 32)
BACKUP_ID = new_backup_id("full", datetime(2026, 11, 23, 4, 42, tzinfo=UTC))


def _write_slowly(path: Path, blocks: list[bytes]) -> None:
    with path.open("wb") as handle:
        for block in blocks:
            handle.write(block)
            handle.flush()
            time.sleep(0.02)


def test_the_follower_checksums_archives_as_they_grow_and_skips_the_wal_tar(
    tmp_path: Path,
) -> None:
    target = tmp_path / "pg"  # created by pg_basebackup after the follower starts
    follower = ArchiveFollower(target)
    follower.start()
    target.mkdir()
    blocks = [os.urandom(300_000) for _ in range(12)]
    writer = threading.Thread(target=_write_slowly, args=(target / "base.tar.zst", blocks))
    writer.start()
    (target / "16385.tar.zst").write_bytes(b"a tablespace")
    (target / "pg_wal.tar").write_bytes(b"seeked into, never followed")
    writer.join()

    checksums = follower.finish()

    content = b"".join(blocks)
    assert checksums == {
        "base.tar.zst": (len(content), hashlib.sha256(content).hexdigest()),
        "16385.tar.zst": (12, hashlib.sha256(b"a tablespace").hexdigest()),
    }


def test_a_replaced_archive_gets_no_checksum_from_the_follower(tmp_path: Path) -> None:
    follower = ArchiveFollower(tmp_path)
    archive = tmp_path / "base.tar.zst"
    archive.write_bytes(b"first version")
    follower.start()
    time.sleep(0.2)  # read by now
    replacement = tmp_path / "other"
    replacement.write_bytes(b"first version")  # same size, another file
    os.replace(replacement, archive)

    assert follower.finish() == {}


def test_the_upload_trusts_a_producer_checksum_only_when_the_size_agrees(tmp_path: Path) -> None:
    catalog = BackupCatalog(LocalRepository(tmp_path / "repo"))
    payload = tmp_path / "base.tar.zst"
    payload.write_bytes(b"payload bytes")
    taken = (13, hashlib.sha256(b"payload bytes").hexdigest())
    entry = catalog.store_file(BACKUP_ID, payload, checksum=taken)
    assert (entry.size, entry.sha256) == taken

    stale = tmp_path / "backup_manifest"
    stale.write_bytes(b"grew after it was checksummed")
    entry = catalog.store_file(BACKUP_ID, stale, checksum=(5, "0" * 64))
    assert (entry.size, entry.sha256) == codec.sha256_file(stale)


def test_an_encrypted_upload_records_the_checksum_of_the_stored_object(tmp_path: Path) -> None:
    repository = LocalRepository(tmp_path / "repo")
    catalog = BackupCatalog(repository, key=KEY)
    payload = tmp_path / "base.tar.zst"
    plain = os.urandom(codec.CHUNK_SIZE + 1000)  # two chunks
    payload.write_bytes(plain)

    entry = catalog.store_file(BACKUP_ID, payload, consume=True)

    stored = repository.get_bytes(backup_key(BACKUP_ID, "base.tar.zst"))
    assert stored.startswith(codec.MAGIC)
    assert (entry.stored_size, entry.stored_sha256) == (
        len(stored),
        hashlib.sha256(stored).hexdigest(),
    )
    assert (entry.size, entry.sha256) == (len(plain), hashlib.sha256(plain).hexdigest())
    assert codec.decrypt_bytes(stored, KEY, what="test") == plain
