"""The WAL archive: segments under ``wal/`` keyed by name *and* checksum.

Key layout (docs/backup-format.md)::

    wal/<first 16 hex of the name>/<name>-<sha256 of the raw file>.zst[.enc]
    wal/history/<timeline>.history[.enc]

Because the checksum is part of the key, pushing is idempotent without trusting the
store's overwrite semantics: the same segment again finds its own key and writes
nothing; a *different* segment under the same name finds a key with another checksum
and fails loudly (PostgreSQL then retries and the operator sees it; nothing is
overwritten). Every segment is compressed with zstd and, when a key is configured,
encrypted.

The one exception is a receiver's *partial* segment (``NAME.partial``, the segment
``pg_receivewal`` is still writing): it grows, so each push stores a new version and
then removes the older ones (:meth:`WalArchive.push_partial`); once the finished
segment of that name is archived, its partials go (:meth:`WalArchive.drop_partials`).
A restore reads the newest partial only where the finished segment is missing, as
Barman's ``get-wal --partial`` does. The system identifier in each segment's long page
header is checked against ``repository.json`` so a repository never mixes two clusters'
WAL.
"""

from __future__ import annotations

import hashlib
import os
import re
import struct
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Literal

from chairside.errors import ConflictError, InputError, NotFoundError
from chairside.ops.backup import codec
from chairside.ops.backup.catalog import BackupCatalog
from chairside.ops.backup.codec import BackupKey, IntegrityError
from chairside.ops.backup.repository import Repository

WAL_PREFIX = "wal/"
HISTORY_PREFIX = "wal/history/"
WalKind = Literal["segment", "partial", "backup", "history"]

_SEGMENT = re.compile(r"^[0-9A-F]{24}$")
_PARTIAL = re.compile(r"^[0-9A-F]{24}\.partial$")
_BACKUP = re.compile(r"^[0-9A-F]{24}\.[0-9A-F]{8}\.backup$")
_HISTORY = re.compile(r"^[0-9A-F]{8}\.history$")
_KEY = re.compile(
    r"^wal/[0-9A-F]{16}/(?P<name>[0-9A-F.a-z]+)-(?P<sha>[0-9a-f]{64})\.zst(?P<enc>\.enc)?$"
)
_XLP_LONG_HEADER = 0x0002


class WalConflictError(ConflictError):
    """A different file was already archived under the same WAL name."""


@dataclass(frozen=True)
class ArchivedWal:
    """One object of the WAL archive."""

    name: str
    kind: WalKind
    key: str
    sha256: str | None
    stored_size: int
    modified: datetime | None

    @property
    def timeline(self) -> int:
        return int(self.name[:8], 16)


@dataclass(frozen=True)
class PushResult:
    """What ``push`` did: ``stored`` is False when the identical file was already there."""

    name: str
    key: str
    stored: bool
    size: int
    stored_size: int


def wal_kind(name: str) -> WalKind:
    """What kind of WAL file ``name`` is; InputError for anything PostgreSQL would not send."""
    if _SEGMENT.match(name):
        return "segment"
    if _PARTIAL.match(name):
        return "partial"
    if _BACKUP.match(name):
        return "backup"
    if _HISTORY.match(name):
        return "history"
    raise InputError(
        f"{name!r} is not a WAL file name; expected a segment (24 hex digits), "
        "NAME.partial, NAME.XXXXXXXX.backup or TTTTTTTT.history",
        field="wal_name",
    )


def wal_object_key(name: str, sha256: str, *, encrypted: bool) -> str:
    """Where the file ``name`` with checksum ``sha256`` is stored."""
    if wal_kind(name) == "history":
        return f"{HISTORY_PREFIX}{name}" + (".enc" if encrypted else "")
    return f"{WAL_PREFIX}{name[:16]}/{name}-{sha256}.zst" + (".enc" if encrypted else "")


def parse_wal_key(key: str) -> tuple[str, str | None, bool] | None:
    """``(name, sha256, encrypted)`` of a WAL archive key, or None for a foreign key."""
    if key.startswith(HISTORY_PREFIX):
        name = key[len(HISTORY_PREFIX) :]
        encrypted = name.endswith(".enc")
        name = name.removesuffix(".enc")
        return (name, None, encrypted) if _HISTORY.match(name) else None
    match = _KEY.match(key)
    if not match:
        return None
    return match["name"], match["sha"], bool(match["enc"])


# ---- segment arithmetic -----------------------------------------------------------------


def segment_name(timeline: int, segno: int, segment_size: int) -> str:
    """The file name of segment number ``segno`` on ``timeline``."""
    per_id = 0x1_0000_0000 // segment_size
    return f"{timeline:08X}{segno // per_id:08X}{segno % per_id:08X}"


def segment_number(name: str, segment_size: int) -> int:
    """The absolute segment number of a segment file name."""
    per_id = 0x1_0000_0000 // segment_size
    return int(name[8:16], 16) * per_id + int(name[16:24], 16)


def parse_lsn(lsn: str) -> int:
    """``'0/2000028'`` as an integer."""
    high, _, low = lsn.partition("/")
    try:
        return (int(high, 16) << 32) | int(low, 16)
    except ValueError:
        raise InputError(f"LSN {lsn!r} is malformed; expected like 0/2000028") from None


def format_lsn(value: int) -> str:
    """An integer LSN as ``'0/2000028'``."""
    return f"{value >> 32:X}/{value & 0xFFFFFFFF:X}"


def segment_of_lsn(lsn: str, timeline: int, segment_size: int) -> str:
    """The segment that holds ``lsn``."""
    return segment_name(timeline, parse_lsn(lsn) // segment_size, segment_size)


def segment_header(data: bytes) -> tuple[str, int] | None:
    """``(system_identifier, segment_size)`` from a segment's long page header, if any."""
    if len(data) < 40:
        return None
    (info,) = struct.unpack_from("<H", data, 2)
    if not info & _XLP_LONG_HEADER:
        return None
    sysid, seg_size = struct.unpack_from("<QI", data, 24)
    return str(sysid), seg_size


# ---- the archive --------------------------------------------------------------------------


def archive_time(repository: Repository, key: str, listed: datetime | None) -> datetime | None:
    """When ``key`` was archived: its listed time, unless listings give upload times.

    An S3 listing gives LastModified, the upload time, which for a DR copy is the sync
    time; its ``stat`` reports the primary's archive time kept as metadata. One request:
    callers ask only for the few objects whose time they show (the newest of a run).
    """
    if not getattr(repository, "listed_time_is_upload_time", False):
        return listed
    info = repository.stat(key)
    return info.modified if info is not None and info.modified is not None else listed


class WalArchive:
    """Push, fetch and list archived WAL in one repository."""

    def __init__(
        self,
        repository: Repository,
        *,
        key: BackupKey | None = None,
        compression_level: int = codec.DEFAULT_ZSTD_LEVEL,
    ) -> None:
        self.repository = repository
        self.key = key
        self.compression_level = compression_level

    def find(self, name: str) -> list[ArchivedWal]:
        """Every archived object stored under the WAL name ``name`` (normally 0 or 1)."""
        kind = wal_kind(name)
        prefix = HISTORY_PREFIX + name if kind == "history" else f"{WAL_PREFIX}{name[:16]}/{name}-"
        found = []
        for info in self.repository.list(prefix):
            parsed = parse_wal_key(info.key)
            if parsed and parsed[0] == name:
                found.append(ArchivedWal(name, kind, info.key, parsed[1], info.size, info.modified))
        return found

    def push(self, path: Path, *, data_dir: Path | None = None) -> PushResult:
        """Archive one WAL file: idempotent, checksummed, compressed, fsynced, never overwriting."""
        name = path.name
        kind = wal_kind(name)
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            raise NotFoundError(f"WAL file {path} does not exist", field="wal_path") from None
        digest = hashlib.sha256(raw).hexdigest()
        existing = self.find(name)
        if kind == "history":
            for entry in existing:
                if self.content(entry) == raw:
                    return PushResult(name, entry.key, False, len(raw), entry.stored_size)
                raise WalConflictError(
                    f"timeline history {name} is already archived with different content in "
                    f"{self.repository.url}; refusing to overwrite it (is another cluster "
                    "archiving into this repository?)"
                )
        else:
            for entry in existing:
                if entry.sha256 == digest:
                    return PushResult(name, entry.key, False, len(raw), entry.stored_size)
            if existing:
                raise WalConflictError(
                    f"WAL {name} is already archived in {self.repository.url} with SHA-256 "
                    f"{existing[0].sha256}, but this file's is {digest}; refusing to overwrite "
                    "an archived segment (is another cluster, or a restored copy with "
                    "archiving on, writing into this repository?)"
                )
        if kind in ("segment", "partial"):
            header = segment_header(raw)
            if header is not None:
                self._check_identity(header[0], data_dir)
        payload = (
            raw if kind == "history" else codec.compress_bytes(raw, level=self.compression_level)
        )
        if self.key is not None:
            payload = codec.encrypt_bytes(payload, self.key)
        key = wal_object_key(name, digest, encrypted=self.key is not None)
        self.repository.put_bytes(key, payload)
        return PushResult(name, key, True, len(raw), len(payload))

    def _check_identity(self, system_identifier: str, data_dir: Path | None) -> None:
        version = 0
        if data_dir is not None and (data_dir / "PG_VERSION").exists():
            version = int((data_dir / "PG_VERSION").read_text().strip().split(".")[0]) * 10000
        BackupCatalog(self.repository).ensure_identity(
            system_identifier=system_identifier, pg_version=version
        )

    def push_partial(self, path: Path, *, data_dir: Path | None = None) -> PushResult:
        """Archive a receiver's growing ``NAME.partial``: store this version, drop older ones.

        The new version is durable before any older one is deleted, so a crash in
        between leaves two versions, and readers take the newest (:meth:`newest_partial`).
        """
        if wal_kind(path.name) != "partial":
            raise InputError(
                f"{path.name!r} is not a partial segment name; expected NAME.partial",
                field="wal_path",
            )
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            raise NotFoundError(f"WAL file {path} does not exist", field="wal_path") from None
        digest = hashlib.sha256(raw).hexdigest()
        older = self.find(path.name)
        same = next((e for e in older if e.sha256 == digest), None)
        if same is not None:
            return PushResult(path.name, same.key, False, len(raw), same.stored_size)
        header = segment_header(raw)
        if header is not None:
            self._check_identity(header[0], data_dir)
        payload = codec.compress_bytes(raw, level=self.compression_level)
        if self.key is not None:
            payload = codec.encrypt_bytes(payload, self.key)
        key = wal_object_key(path.name, digest, encrypted=self.key is not None)
        self.repository.put_bytes(key, payload)
        for entry in older:
            self.repository.delete(entry.key)
        return PushResult(path.name, key, True, len(raw), len(payload))

    def drop_partials(self, segment: str) -> int:
        """Remove the partial versions of ``segment`` (its finished file is archived)."""
        found = self.find(f"{segment}.partial")
        for entry in found:
            self.repository.delete(entry.key)
        return len(found)

    def newest_partial(self, entries: list[ArchivedWal]) -> ArchivedWal | None:
        """The newest of a partial segment's stored versions (by time, then size)."""
        partials = [e for e in entries if e.kind == "partial"]
        return max(
            partials,
            key=lambda e: (e.modified.timestamp() if e.modified else 0.0, e.stored_size),
            default=None,
        )

    def content(self, entry: ArchivedWal) -> bytes:
        """The original bytes of an archived object (decrypted, decompressed)."""
        stored = self.repository.get_bytes(entry.key)
        what = f"archived WAL {entry.name}"
        if entry.key.endswith(".enc"):
            stored = codec.decrypt_bytes(stored, self.key, what=what)
        elif codec.stored_key_id(stored) is not None:
            raise IntegrityError(f"{what} is encrypted but its key does not say so ({entry.key})")
        return stored if entry.kind == "history" else codec.decompress_bytes(stored)

    def fetch(self, name: str, destination: Path) -> ArchivedWal:
        """Restore WAL ``name`` to ``destination`` (verified; written atomically)."""
        found = self.find(name)
        if not found:
            raise NotFoundError(
                f"WAL {name} is not in repository {self.repository.url}", field="wal_name"
            )
        if len(found) > 1:
            raise WalConflictError(
                f"WAL {name} is archived more than once with different content "
                f"({', '.join(e.key for e in found)}); resolve it before restoring"
            )
        entry = found[0]
        content = self.content(entry)
        if entry.sha256 is not None and hashlib.sha256(content).hexdigest() != entry.sha256:
            raise IntegrityError(
                f"archived WAL {name} is damaged: its content does not match the checksum in "
                f"its key {entry.key}"
            )
        destination.parent.mkdir(parents=True, exist_ok=True)
        tmp = destination.with_name(f".{destination.name}.chairside-tmp")
        with tmp.open("wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        tmp.replace(destination)
        return entry

    def entries(self, *, include_history: bool = True) -> list[ArchivedWal]:
        """Every archived WAL object in name order."""
        entries = []
        for info in self.repository.list(WAL_PREFIX):
            parsed = parse_wal_key(info.key)
            if parsed is None:
                continue
            name, sha, _encrypted = parsed
            kind = wal_kind(name)
            if kind == "history" and not include_history:
                continue
            entries.append(ArchivedWal(name, kind, info.key, sha, info.size, info.modified))
        return sorted(entries, key=lambda e: (e.name, e.key))

    def archive_time(self, entry: ArchivedWal) -> ArchivedWal:
        """``entry`` with its archive time (see :func:`archive_time`)."""
        modified = archive_time(self.repository, entry.key, entry.modified)
        return entry if modified == entry.modified else replace(entry, modified=modified)

    def segments_by_timeline(self) -> dict[int, list[ArchivedWal]]:
        """Archived full segments grouped per timeline, in order."""
        grouped: dict[int, list[ArchivedWal]] = {}
        for entry in self.entries(include_history=False):
            if entry.kind == "segment":
                grouped.setdefault(entry.timeline, []).append(entry)
        return grouped

    def delete(self, entry: ArchivedWal) -> None:
        """Remove one archived object (retention only)."""
        self.repository.delete(entry.key)
