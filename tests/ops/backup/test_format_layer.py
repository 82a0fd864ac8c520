"""The repository format: encryption stream, manifest + marker, WAL keys (no cluster needed)."""

from __future__ import annotations

import io
import os
import struct
from datetime import UTC, datetime
from pathlib import Path

import pytest

from chairside.errors import InputError, NotFoundError
from chairside.ops.backup import codec
from chairside.ops.backup.catalog import (
    BackupCatalog,
    IncompleteBackupError,
    RepositoryMismatchError,
    RepositoryMissingError,
)
from chairside.ops.backup.codec import BackupKey, IntegrityError, KeyMissingError, WrongKeyError
from chairside.ops.backup.manifest import Encryption, Manifest, new_backup_id
from chairside.ops.backup.repository.local import LocalRepository
from chairside.ops.backup.walarchive import (
    WalArchive,
    WalConflictError,
    segment_name,
    segment_number,
    segment_of_lsn,
)
from tests.ops.backup.helpers import fake_segment

KEY = BackupKey(b"k" * 32)
OTHER_KEY = BackupKey(b"o" * 32)


def test_an_encrypted_stream_round_trips_across_chunks_and_empty_input() -> None:
    for plain in (b"", b"x" * 10, os.urandom(codec.CHUNK_SIZE + 17)):
        sealed = codec.encrypt_bytes(plain, KEY)
        assert plain[:64] not in sealed[40:] or not plain
        assert codec.decrypt_bytes(sealed, KEY, what="t") == plain


def test_it_names_both_keys_when_the_key_is_wrong_or_missing() -> None:
    sealed = codec.encrypt_bytes(b"secret booking data", KEY)
    with pytest.raises(WrongKeyError, match=f"{KEY.key_id}.*{OTHER_KEY.key_id}"):
        codec.decrypt_bytes(sealed, OTHER_KEY, what="t")
    with pytest.raises(WrongKeyError, match="no key is configured"):
        codec.decrypt_bytes(sealed, None, what="t")


def test_a_flipped_byte_or_a_dropped_final_chunk_fails_authentication() -> None:
    plain = os.urandom(codec.CHUNK_SIZE * 2 + 5)
    sealed = bytearray(codec.encrypt_bytes(plain, KEY))
    flipped = bytearray(sealed)
    flipped[len(flipped) // 2] ^= 0x01
    with pytest.raises(IntegrityError, match="authentication"):
        codec.decrypt_bytes(bytes(flipped), KEY, what="t")
    # Cut the stream right after its second chunk: a whole chunk boundary, still refused.
    first_len = struct.unpack(">I", sealed[23:27])[0]
    second_start = 23 + 4 + 12 + first_len
    second_len = struct.unpack(">I", sealed[second_start : second_start + 4])[0]
    cut = bytes(sealed[: second_start + 4 + 12 + second_len])
    with pytest.raises(IntegrityError):
        codec.decrypt_bytes(cut, KEY, what="t")


def test_it_loads_hex_and_raw_keys_and_refuses_missing_or_short_ones(tmp_path: Path) -> None:
    hex_file = tmp_path / "hex.key"
    hex_file.write_text(("ab" * 32) + "\n")
    raw_file = tmp_path / "raw.key"
    raw_file.write_bytes(b"r" * 32)
    loaded_hex = codec.load_key(hex_file)
    assert loaded_hex is not None and loaded_hex.secret == bytes.fromhex("ab" * 32)
    loaded_raw = codec.load_key(raw_file)
    assert loaded_raw is not None and loaded_raw.secret == b"r" * 32
    assert codec.load_key(None) is None
    with pytest.raises(KeyMissingError, match="does not exist"):
        codec.load_key(tmp_path / "absent.key")
    short = tmp_path / "short.key"
    short.write_bytes(b"123")
    with pytest.raises(KeyMissingError, match="32 raw bytes or 64 hex"):
        codec.load_key(short)
    assert "secret" not in repr(loaded_raw) and str(b"r" * 32) not in repr(loaded_raw)


def _publish(catalog: BackupCatalog, tmp_path: Path, *, complete: bool = True) -> Manifest:
    payload = tmp_path / "base.tar.zst"
    payload.write_bytes(codec.compress_bytes(b"pretend tar " * 1000))
    backup_id = new_backup_id("full", datetime(2026, 11, 23, 4, 42, tzinfo=UTC))
    entry = catalog.store_file(backup_id, payload)
    manifest = Manifest(
        id=backup_id,
        type="full",
        pg_version=150000,
        system_identifier="42",
        start_time=datetime(2026, 11, 23, 4, 42, tzinfo=UTC),
        stop_time=datetime(2026, 11, 23, 4, 43, tzinfo=UTC),
        files=(entry,),
        timeline=1,
        start_lsn="0/2000028",
        stop_lsn="0/2000100",
        start_wal="000000010000000000000002",
        stop_wal="000000010000000000000002",
        wal_segment_size=1 << 20,
        encryption=codec_encryption(catalog.key) if catalog.key is not None else None,
    )
    if complete:
        catalog.publish(manifest)
    return manifest


def codec_encryption(key: BackupKey) -> Encryption:
    return Encryption(codec.ALGORITHM, key.key_id)


def test_a_manifest_survives_its_json_round_trip(tmp_path: Path) -> None:
    catalog = BackupCatalog(LocalRepository(tmp_path / "repo"))
    manifest = _publish(catalog, tmp_path, complete=False)
    assert Manifest.from_json(manifest.to_json()) == manifest


def test_only_backups_with_a_matching_marker_are_listed_as_good(tmp_path: Path) -> None:
    repo = LocalRepository(tmp_path / "repo")
    catalog = BackupCatalog(repo)
    manifest = _publish(catalog, tmp_path, complete=False)
    assert catalog.list_backups() == []
    [entry] = catalog.list_backups(include_incomplete=True)
    assert not entry.complete and entry.problem == "no COMPLETE marker"
    with pytest.raises(IncompleteBackupError, match="no COMPLETE marker"):
        catalog.read_manifest(manifest.id)

    catalog.publish(manifest)
    assert [e.id for e in catalog.list_backups()] == [manifest.id]
    # A manifest edited after completion no longer matches its marker.
    repo.put_bytes(f"backups/{manifest.id}/manifest.json", manifest.to_json() + b" ")
    assert catalog.list_backups() == []
    with pytest.raises(IncompleteBackupError, match="does not match"):
        catalog.read_manifest(manifest.id)


def test_fetching_verifies_checksums_and_decrypts(tmp_path: Path) -> None:
    repo = LocalRepository(tmp_path / "repo")
    catalog = BackupCatalog(repo, key=KEY)
    manifest = _publish(catalog, tmp_path)
    stored = repo.root / "backups" / manifest.id / "base.tar.zst"
    assert codec.stored_key_id(stored.read_bytes()[:23]) == KEY.key_id
    [path] = catalog.fetch_files(manifest.id, tmp_path / "out")
    assert path.read_bytes() == (tmp_path / "base.tar.zst").read_bytes()

    with pytest.raises(WrongKeyError):
        BackupCatalog(repo, key=OTHER_KEY).fetch_files(manifest.id, tmp_path / "out2")
    data = bytearray(stored.read_bytes())
    data[len(data) // 2] ^= 0xFF
    stored.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="damaged"):
        catalog.fetch_files(manifest.id, tmp_path / "out3")


def test_a_streamed_file_is_verified_and_decrypted_as_it_is_read(tmp_path: Path) -> None:
    repo = LocalRepository(tmp_path / "repo")
    catalog = BackupCatalog(repo, key=KEY)
    manifest = _publish(catalog, tmp_path)
    with catalog.open_file(manifest, "base.tar.zst") as stream:
        assert stream.read() == (tmp_path / "base.tar.zst").read_bytes()

    stored = repo.root / "backups" / manifest.id / "base.tar.zst"
    data = bytearray(stored.read_bytes())
    data[len(data) // 2] ^= 0xFF
    stored.write_bytes(bytes(data))
    with pytest.raises(IntegrityError), catalog.open_file(manifest, "base.tar.zst") as stream:
        stream.read(10)  # the rest is read and checked when the block ends


def test_damage_is_named_when_a_streamed_file_only_looks_malformed(tmp_path: Path) -> None:
    repo = LocalRepository(tmp_path / "repo")
    catalog = BackupCatalog(repo)
    manifest = _publish(catalog, tmp_path)
    stored = repo.root / "backups" / manifest.id / "base.tar.zst"
    stored.write_bytes(stored.read_bytes()[:-7])

    with pytest.raises(IntegrityError, match="base.tar.zst is damaged"):
        with catalog.open_file(manifest, "base.tar.zst") as stream:
            stream.read(5)
            raise ValueError("the reader gave up on a malformed stream")


def test_unknown_ids_and_missing_repositories_are_named(tmp_path: Path) -> None:
    catalog = BackupCatalog(LocalRepository(tmp_path / "nowhere"))
    with pytest.raises(RepositoryMissingError, match="nowhere"):
        catalog.require_identity()
    with pytest.raises(NotFoundError, match="20260101T000000Z-full"):
        catalog.read_manifest("20260101T000000Z-full")
    with pytest.raises(InputError, match="malformed"):
        catalog.read_manifest("latest-please")


def test_wal_push_is_idempotent_and_refuses_different_content(tmp_path: Path) -> None:
    repo = LocalRepository(tmp_path / "repo")
    archive = WalArchive(repo)
    wal_dir = tmp_path / "pg_wal"
    wal_dir.mkdir()
    segment = wal_dir / "000000010000000000000003"
    segment.write_bytes(fake_segment(7, b"first"))
    first = archive.push(segment)
    again = archive.push(segment)
    assert first.stored and not again.stored and first.key == again.key
    assert BackupCatalog(repo).require_identity().system_identifier == "7"

    segment.write_bytes(fake_segment(7, b"other"))
    with pytest.raises(WalConflictError, match="000000010000000000000003"):
        archive.push(segment)
    assert [e.key for e in archive.entries()] == [first.key]

    out = tmp_path / "restore" / "RECOVERYXLOG"
    archive.fetch("000000010000000000000003", out)
    assert out.read_bytes() == fake_segment(7, b"first")
    with pytest.raises(NotFoundError):
        archive.fetch("000000010000000000000009", out)


def test_wal_of_another_cluster_is_refused(tmp_path: Path) -> None:
    archive = WalArchive(LocalRepository(tmp_path / "repo"))
    segment = tmp_path / "000000010000000000000003"
    segment.write_bytes(fake_segment(7, b"a"))
    archive.push(segment)
    foreign = tmp_path / "000000010000000000000004"
    foreign.write_bytes(fake_segment(8, b"b"))
    with pytest.raises(RepositoryMismatchError, match="7.*8"):
        archive.push(foreign)


def test_encrypted_wal_needs_the_right_key_to_come_back(tmp_path: Path) -> None:
    repo = LocalRepository(tmp_path / "repo")
    segment = tmp_path / "000000010000000000000003"
    segment.write_bytes(fake_segment(7, b"secret"))
    result = WalArchive(repo, key=KEY).push(segment)
    assert result.key.endswith(".zst.enc")
    assert b"secret" not in (repo.root / result.key).read_bytes()
    with pytest.raises(WrongKeyError):
        WalArchive(repo, key=OTHER_KEY).fetch(segment.name, tmp_path / "x")
    WalArchive(repo, key=KEY).fetch(segment.name, tmp_path / "x")
    assert (tmp_path / "x").read_bytes() == segment.read_bytes()


def test_segment_arithmetic_matches_postgres_naming() -> None:
    size = 1 << 20
    assert segment_name(1, 4096 + 3, size) == "000000010000000100000003"
    assert segment_number("000000010000000100000003", size) == 4096 + 3
    assert segment_of_lsn("0/2000028", 1, 16 << 20) == "000000010000000000000002"
    assert segment_of_lsn("0/2000028", 1, size) == "000000010000000000000020"


def test_streams_never_load_whole_files(tmp_path: Path) -> None:
    source = tmp_path / "big"
    source.write_bytes(os.urandom(codec.CHUNK_SIZE * 2))
    codec.encrypt_file(source, tmp_path / "big.enc", KEY)
    codec.decrypt_file(tmp_path / "big.enc", tmp_path / "big.out", KEY, what="big")
    assert (tmp_path / "big.out").read_bytes() == source.read_bytes()
    buffer = io.BytesIO()
    codec.encrypt_stream(io.BytesIO(b""), buffer, KEY)
    assert len(buffer.getvalue()) == 7 + 16 + 4 + 12 + 16


def test_wal_push_refuses_when_the_configured_key_is_missing(tmp_path: Path) -> None:
    from chairside.config import load_settings
    from chairside.ops.backup import access

    settings = load_settings(
        env="test",
        home=tmp_path / "home",
        backup_repository=str(tmp_path / "repo"),
        backup_key_file=tmp_path / "lost.key",
    )
    segment = tmp_path / "000000010000000000000003"
    segment.write_bytes(fake_segment(7, b"plain"))
    with pytest.raises(KeyMissingError, match="lost.key"):
        access.wal_archive(settings).push(segment)
    assert not (tmp_path / "repo").exists()  # nothing, and certainly no plaintext, written
