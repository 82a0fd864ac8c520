"""Single objects between two repositories: checksums, intact-or-not, verified copies.

A copy is verified on the way through: a backup file must match the size and SHA-256 its
manifest gives for the stored object, a WAL segment must decompress (and decrypt, when
the key is at hand) to the checksum in its key. Damage in the source is named and never
propagated to the DR copy.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from chairside.ops.backup import codec
from chairside.ops.backup.codec import BackupKey, IntegrityError
from chairside.ops.backup.repository import ObjectNotFoundError, Repository
from chairside.ops.backup.repository.base import validate_key
from chairside.ops.backup.repository.local import LocalRepository
from chairside.ops.backup.repository.s3 import S3Repository
from chairside.ops.backup.walarchive import parse_wal_key, wal_kind


@dataclass(frozen=True)
class Expected:
    """What an object must be: its stored size and, when known, its SHA-256."""

    size: int
    sha256: str | None = None


def object_checksum(repository: Repository, key: str, scratch: Path) -> tuple[int, str] | None:
    """``(size, sha256)`` of a stored object, None when absent.

    The checksum comes from the backend's metadata when it has it (S3 objects Chairside
    wrote), otherwise from reading the object.
    """
    info = repository.stat(key)
    if info is None:
        return None
    if info.sha256:
        return info.size, info.sha256
    tmp = scratch / f"sum-{secrets.token_hex(6)}"
    try:
        repository.get_file(key, tmp)
        return codec.sha256_file(tmp)
    except ObjectNotFoundError:
        return None
    finally:
        tmp.unlink(missing_ok=True)


def is_intact(repository: Repository, key: str, expected: Expected, scratch: Path) -> bool:
    """True when the object is there with the expected size (and checksum, when known)."""
    if expected.sha256 is None:
        info = repository.stat(key)
        return info is not None and info.size == expected.size
    found = object_checksum(repository, key, scratch)
    return found == (expected.size, expected.sha256)


def copy_file_object(
    source: Repository, target: Repository, key: str, *, expected: Expected, scratch: Path
) -> int:
    """Copy one (possibly large) object, verified against ``expected``; returns bytes sent.

    A local source is read in place; any other is first downloaded to a temp file.
    """
    if isinstance(source, LocalRepository):
        path = source.root / validate_key(key)
        if not path.is_file():
            raise IntegrityError(f"{key} is missing from the source repository {source.url}")
        return _verified_put(source, target, key, path, expected)
    tmp = scratch / f"copy-{secrets.token_hex(6)}"
    try:
        try:
            source.get_file(key, tmp)
        except ObjectNotFoundError:
            raise IntegrityError(
                f"{key} is missing from the source repository {source.url}"
            ) from None
        return _verified_put(source, target, key, tmp, expected)
    finally:
        tmp.unlink(missing_ok=True)


def _verified_put(
    source: Repository, target: Repository, key: str, path: Path, expected: Expected
) -> int:
    size, digest = codec.sha256_file(path)
    if size != expected.size or (expected.sha256 and digest != expected.sha256):
        raise IntegrityError(
            f"{key} in the source repository {source.url} is damaged: {size} bytes with "
            f"SHA-256 {digest[:16]}…, expected {expected.size} bytes"
            + (f", {expected.sha256[:16]}…" if expected.sha256 else "")
            + "; not copied"
        )
    if isinstance(target, S3Repository):
        target.put_file(key, path, sha256=digest)  # already hashed: skip a second pass
    else:
        target.put_file(key, path)
    return size


def copy_small_object(
    source: Repository,
    target: Repository,
    key: str,
    *,
    wal_key: BackupKey | None = None,
    archived_at: datetime | None = None,
) -> int:
    """Copy a small object (WAL, history, identity) in memory, checking WAL content.

    ``archived_at``: the source's archive time, kept as metadata on an S3 target.
    """
    try:
        data = source.get_bytes(key)
    except ObjectNotFoundError:
        raise IntegrityError(f"{key} is missing from the source repository {source.url}") from None
    check_wal_object(key, data, wal_key, where=source.url)
    if isinstance(target, S3Repository) and archived_at is not None:
        target.put_bytes(key, data, archived_at=archived_at)
    else:
        target.put_bytes(key, data)
    return len(data)


def same_small_object(source: Repository, target: Repository, key: str) -> bool:
    """True when ``target`` already holds exactly the bytes ``source`` has under ``key``."""
    try:
        return target.get_bytes(key) == source.get_bytes(key)
    except ObjectNotFoundError:
        return False


def check_wal_object(key: str, stored: bytes, wal_key: BackupKey | None, *, where: str) -> None:
    """Refuse an archived WAL object whose content does not match the checksum in its key.

    Encrypted objects are checked only when the key is at hand (a DR sync may run
    without it); their authentication tags are then checked too.
    """
    parsed = parse_wal_key(key)
    if parsed is None:
        return
    name, sha256, encrypted = parsed
    if sha256 is None:
        return  # history files carry no checksum in their key
    if encrypted:
        if wal_key is None:
            return
        stored = codec.decrypt_bytes(stored, wal_key, what=f"archived WAL {name}")
    try:
        raw = codec.decompress_bytes(stored) if wal_kind(name) != "history" else stored
    except Exception as exc:  # noqa: BLE001 - any decoding failure means damage
        raise IntegrityError(
            f"archived WAL {key} in {where} is damaged: it does not decompress ({exc}); not copied"
        ) from None
    if hashlib.sha256(raw).hexdigest() != sha256:
        raise IntegrityError(
            f"archived WAL {key} in {where} is damaged: its content does not match the "
            "checksum in its key; not copied"
        )


def make_scratch(base: Path) -> Path:
    """A private directory for temp files of one sync run."""
    path = base / f"sync-{os.getpid()}-{secrets.token_hex(3)}"
    path.mkdir(parents=True, exist_ok=True)
    return path
