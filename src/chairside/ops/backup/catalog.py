"""The backup catalog is the repository itself: identity, backups, markers, payload files.

There is no index to drift out of date: listing backups reads ``backups/*/`` and a backup
counts only when its ``COMPLETE`` marker vouches for its exact manifest. Writers publish
payload files, then the manifest, then the marker (:meth:`BackupCatalog.publish`);
readers verify the marker (:meth:`BackupCatalog.read_manifest`) and every checksum
(:meth:`BackupCatalog.fetch_files`, or :meth:`BackupCatalog.open_file` while streaming).
``repository.json`` binds a repository to one cluster (its system identifier); a mismatch
is refused, naming both identifiers.
"""

from __future__ import annotations

import io
import json
import shutil
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from chairside.errors import ConflictError, InputError, NotFoundError
from chairside.ops.backup import codec
from chairside.ops.backup.codec import BackupKey, IntegrityError
from chairside.ops.backup.manifest import (
    FORMAT_VERSION,
    BackupFile,
    Manifest,
    ManifestError,
    Marker,
    parse_backup_id,
)
from chairside.ops.backup.repository import ObjectNotFoundError, Repository
from chairside.ops.backup.repository.local import LocalRepository

IDENTITY_KEY = "repository.json"
BACKUPS_PREFIX = "backups/"
MANIFEST = "manifest.json"
MARKER = "COMPLETE"
VALIDATION = "validation.json"
_STREAM_BUFFER = 1024 * 1024
_RESERVED = {MANIFEST, MARKER, VALIDATION}

Progress = Callable[[int], None]
"""Called with a number of bytes just processed (drives a progress bar)."""


class IncompleteBackupError(ConflictError):
    """The backup has no valid completion marker: it never counts and is never restored."""


class RepositoryMismatchError(ConflictError):
    """The repository belongs to another cluster (system identifier mismatch)."""


class RepositoryMissingError(NotFoundError):
    """There is no Chairside repository at the configured place."""


@dataclass(frozen=True)
class RepositoryIdentity:
    """Which cluster a repository serves."""

    system_identifier: str
    pg_version: int
    created: datetime
    format: int = FORMAT_VERSION

    def to_json(self) -> bytes:
        data = {
            "format": self.format,
            "system_identifier": self.system_identifier,
            "pg_version": self.pg_version,
            "created": self.created.isoformat(),
        }
        return (json.dumps(data, indent=2) + "\n").encode()

    @classmethod
    def from_json(cls, raw: bytes) -> RepositoryIdentity:
        try:
            data = json.loads(raw)
            return cls(
                system_identifier=str(data["system_identifier"]),
                pg_version=int(data["pg_version"]),
                created=datetime.fromisoformat(data["created"]),
                format=int(data.get("format", FORMAT_VERSION)),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise ManifestError(f"{IDENTITY_KEY} is malformed: {exc!r}") from None


@dataclass(frozen=True)
class BackupEntry:
    """One backup directory as listed: complete (with its manifest) or not (with why)."""

    id: str
    complete: bool
    manifest: Manifest | None
    completed_at: datetime | None
    problem: str | None = None

    @property
    def start_time(self) -> datetime:
        return parse_backup_id(self.id)[0] if self.manifest is None else self.manifest.start_time

    def to_dict(self) -> dict[str, Any]:
        manifest = self.manifest
        return {
            "id": self.id,
            "type": manifest.type if manifest else parse_backup_id(self.id)[1],
            "complete": self.complete,
            "problem": self.problem,
            "start_time": self.start_time.isoformat(),
            "stop_time": manifest.stop_time.isoformat() if manifest else None,
            "completed": self.completed_at.isoformat() if self.completed_at else None,
            "timeline": manifest.timeline if manifest else None,
            "start_wal": manifest.start_wal if manifest else None,
            "stop_wal": manifest.stop_wal if manifest else None,
            "database": manifest.database if manifest else None,
            "size": manifest.total_size if manifest else None,
            "stored_size": manifest.stored_size if manifest else None,
            "encrypted": bool(manifest and manifest.encryption),
        }


def backup_key(backup_id: str, name: str) -> str:
    """The repository key of a file of a backup."""
    return f"{BACKUPS_PREFIX}{backup_id}/{name}"


class BackupCatalog:
    """Read and write backups in one repository, with the configured key (or none)."""

    def __init__(self, repository: Repository, *, key: BackupKey | None = None) -> None:
        self.repository = repository
        self.key = key

    # ---- identity ----------------------------------------------------------------------

    def identity(self) -> RepositoryIdentity | None:
        """The cluster this repository serves, or None for a new, empty repository."""
        try:
            return RepositoryIdentity.from_json(self.repository.get_bytes(IDENTITY_KEY))
        except ObjectNotFoundError:
            return None

    def require_identity(self) -> RepositoryIdentity:
        """The identity, or :class:`RepositoryMissingError` when this is no repository."""
        identity = self.identity()
        if identity is None:
            raise RepositoryMissingError(
                f"there is no Chairside repository at {self.repository.url} (no "
                f"{IDENTITY_KEY}); check CHAIRSIDE_BACKUP_REPOSITORY, or take a backup first"
            )
        return identity

    def ensure_identity(self, *, system_identifier: str, pg_version: int) -> RepositoryIdentity:
        """Claim a new repository for this cluster, or check that it already serves it."""
        identity = self.identity()
        if identity is None:
            identity = RepositoryIdentity(system_identifier, pg_version, datetime.now(UTC))
            self.repository.put_bytes(IDENTITY_KEY, identity.to_json())
            return identity
        check_same_cluster(identity, system_identifier, where=self.repository.url)
        return identity

    # ---- reading -----------------------------------------------------------------------

    def list_backups(self, *, include_incomplete: bool = False) -> list[BackupEntry]:
        """Backups oldest first; only complete ones unless ``include_incomplete``."""
        ids: dict[str, set[str]] = {}
        for info in self.repository.list(BACKUPS_PREFIX):
            parts = info.key[len(BACKUPS_PREFIX) :].split("/", 1)
            if len(parts) == 2:
                ids.setdefault(parts[0], set()).add(parts[1])
        entries = []
        for backup_id in sorted(ids):
            try:
                parse_backup_id(backup_id)
            except InputError:  # a foreign directory is not a backup
                continue
            entry = self._entry(backup_id, ids[backup_id])
            if entry.complete or include_incomplete:
                entries.append(entry)
        return entries

    def _entry(self, backup_id: str, names: set[str]) -> BackupEntry:
        if MARKER not in names:
            return BackupEntry(backup_id, False, None, None, "no COMPLETE marker")
        try:
            manifest, marker = self._verified(backup_id)
        except (IncompleteBackupError, ManifestError) as exc:
            return BackupEntry(backup_id, False, None, None, exc.message)
        return BackupEntry(backup_id, True, manifest, marker.completed)

    def _verified(self, backup_id: str) -> tuple[Manifest, Marker]:
        try:
            marker_raw = self.repository.get_bytes(backup_key(backup_id, MARKER))
        except ObjectNotFoundError:
            raise IncompleteBackupError(
                f"backup {backup_id} is incomplete (no COMPLETE marker: it was interrupted "
                "or is still being written); it is never restored from"
            ) from None
        marker = Marker.from_json(marker_raw, where=f"backup {backup_id} marker")
        try:
            raw = self.repository.get_bytes(backup_key(backup_id, MANIFEST))
        except ObjectNotFoundError:
            raise IncompleteBackupError(
                f"backup {backup_id} has a marker but no manifest.json; it is unusable"
            ) from None
        if codec.sha256_bytes(raw) != marker.manifest_sha256:
            raise IncompleteBackupError(
                f"backup {backup_id}: manifest.json does not match its COMPLETE marker "
                "(changed after completion); it is unusable"
            )
        manifest = Manifest.from_json(raw, where=f"backup {backup_id} manifest")
        if manifest.id != backup_id:
            raise ManifestError(f"backup {backup_id}: its manifest names id {manifest.id}")
        return manifest, marker

    def read_manifest(self, backup_id: str) -> Manifest:
        """The manifest of a complete backup (marker verified); errors name the problem."""
        parse_backup_id(backup_id)
        if self.repository.stat(backup_key(backup_id, MANIFEST)) is None and (
            self.repository.stat(backup_key(backup_id, MARKER)) is None
        ):
            if not any(True for _ in self.repository.list(f"{BACKUPS_PREFIX}{backup_id}/")):
                known = [e.id for e in self.list_backups()][-5:]
                raise NotFoundError(
                    f"backup {backup_id!r} is not in repository {self.repository.url}; "
                    f"recent backups: {', '.join(known) or 'none'}",
                    field="backup_id",
                )
        return self._verified(backup_id)[0]

    def latest(self, *, backup_type: str | None = "full") -> Manifest | None:
        """The newest complete backup (of ``backup_type``), or None."""
        for entry in reversed(self.list_backups()):
            if entry.manifest and (backup_type is None or entry.manifest.type == backup_type):
                return entry.manifest
        return None

    def fetch_files(
        self,
        backup_id: str,
        destination: Path,
        *,
        names: Iterable[str] | None = None,
        progress: Progress | None = None,
    ) -> list[Path]:
        """Download, verify and decrypt a complete backup's files into ``destination``."""
        manifest = self.read_manifest(backup_id)
        wanted = set(names) if names is not None else None
        if manifest.encryption:
            codec.check_key(manifest.encryption.key_id, self.key, what=f"backup {backup_id}")
        destination.mkdir(parents=True, exist_ok=True)
        paths = []
        for entry in manifest.files:
            if wanted is not None and entry.name not in wanted:
                continue
            paths.append(self._fetch_one(manifest, entry, destination))
            if progress:
                progress(entry.stored_size)
        return paths

    def _fetch_one(self, manifest: Manifest, entry: BackupFile, destination: Path) -> Path:
        target = destination / entry.name
        stored = destination / f".{entry.name}.stored"
        what = f"backup {manifest.id} file {entry.name}"
        try:
            self.repository.get_file(backup_key(manifest.id, entry.name), stored)
        except ObjectNotFoundError:
            raise IntegrityError(f"{what} is missing from the repository") from None
        try:
            _check_stored(what, codec.sha256_file(stored), entry)
            if manifest.encryption:
                assert self.key is not None  # checked by fetch_files
                codec.decrypt_file(stored, target, self.key, what=what)
                stored.unlink()
                _check_plain(what, codec.sha256_file(target), entry)
            else:
                stored.replace(target)
        finally:
            stored.unlink(missing_ok=True)
        return target

    @contextmanager
    def open_file(self, manifest: Manifest, name: str) -> Iterator[IO[bytes]]:
        """One file of a complete backup as a stream of its plaintext, verified as it passes.

        The stored size and SHA-256 (and, when encrypted, the plaintext's after
        decryption with the configured key) are checked when the block ends, after the
        rest of the stream has been read: what the caller made of the bytes is only to
        be trusted once the block has exited without :class:`IntegrityError`.
        """
        entry = next((f for f in manifest.files if f.name == name), None)
        if entry is None:
            raise IntegrityError(f"backup {manifest.id} has no file {name} in its manifest")
        what = f"backup {manifest.id} file {entry.name}"
        if manifest.encryption:
            codec.check_key(manifest.encryption.key_id, self.key, what=f"backup {manifest.id}")
        try:
            source = self.repository.open_read(backup_key(manifest.id, entry.name))
        except ObjectNotFoundError:
            raise IntegrityError(f"{what} is missing from the repository") from None
        stored = codec.DigestingReader(source)
        plain = stored
        if manifest.encryption:
            assert self.key is not None  # check_key refused a missing key
            chunks = codec.decrypt_chunks(io.BufferedReader(stored), self.key, what=what)
            plain = codec.DigestingReader(io.BufferedReader(codec.ChunkReader(chunks)))
        encrypted = manifest.encryption is not None

        def verify(stream: IO[bytes]) -> None:
            while stream.read(_STREAM_BUFFER):
                pass  # whatever the caller left unread still counts
            _check_stored(what, (stored.size, stored.hexdigest()), entry)
            if encrypted:
                _check_plain(what, (plain.size, plain.hexdigest()), entry)

        with source, io.BufferedReader(plain, _STREAM_BUFFER) as stream:
            try:
                yield stream
            except Exception:
                # Damage usually surfaces first as a decompression or tar error; when
                # the checksums confirm it, name the damage, which is the cause.
                verify(stream)
                raise
            verify(stream)

    def read_validation(self, backup_id: str) -> dict[str, Any] | None:
        """The newest validation result stored with the backup, or None."""
        try:
            raw = self.repository.get_bytes(backup_key(backup_id, VALIDATION))
        except ObjectNotFoundError:
            return None
        try:
            data = json.loads(raw)
        except ValueError:
            return {"status": "unknown", "summary": "validation.json is malformed"}
        return data if isinstance(data, dict) else None

    def write_validation(self, backup_id: str, result: dict[str, Any]) -> None:
        """Store a validation result with the backup (replacing the previous one)."""
        payload = json.dumps(result, indent=2, default=str) + "\n"
        self.repository.put_bytes(backup_key(backup_id, VALIDATION), payload.encode())

    # ---- writing -----------------------------------------------------------------------

    def store_file(
        self,
        backup_id: str,
        path: Path,
        *,
        name: str | None = None,
        progress: Progress | None = None,
        consume: bool = False,
        checksum: tuple[int, str] | None = None,
    ) -> BackupFile:
        """Upload one payload file (encrypting it when a key is set); returns its entry.

        ``consume``: the file is the caller's to give away (a staging file), so a local
        repository on the same filesystem may take it by a rename instead of a copy.
        ``checksum``: the file's size and SHA-256 when its producer took them while
        writing it, so it is not read again for them (ignored if the size disagrees).
        """
        name = name or path.name
        if name in _RESERVED or "/" in name:
            raise ValueError(f"payload file name {name!r} is reserved or contains '/'")
        if checksum is None or checksum[0] != path.stat().st_size:
            checksum = codec.sha256_file(path)
        size, digest = checksum
        upload = path
        stored_size, stored_digest = size, digest
        if self.key is not None:
            upload = path.with_name(f"{path.name}.enc")
            stored_size, stored_digest = codec.encrypt_file(path, upload, self.key)
        try:
            key = backup_key(backup_id, name)
            if (consume or upload != path) and isinstance(self.repository, LocalRepository):
                self.repository.adopt_file(key, upload)
            else:
                self.repository.put_file(key, upload)
        finally:
            if upload != path:
                upload.unlink(missing_ok=True)
        if progress:
            progress(size)
        return BackupFile(name, size, digest, stored_size, stored_digest)

    def publish(self, manifest: Manifest) -> Marker:
        """Write the manifest, then the marker: from this moment the backup counts."""
        for entry in manifest.files:
            info = self.repository.stat(backup_key(manifest.id, entry.name))
            if info is None or info.size != entry.stored_size:
                raise IntegrityError(
                    f"backup {manifest.id}: {entry.name} is not in the repository as the "
                    "manifest describes it; refusing to mark the backup complete"
                )
        raw = manifest.to_json()
        self.repository.put_bytes(backup_key(manifest.id, MANIFEST), raw)
        marker = Marker(codec.sha256_bytes(raw), datetime.now(UTC))
        self.repository.put_bytes(backup_key(manifest.id, MARKER), marker.to_json())
        return marker

    def delete_backup(self, backup_id: str) -> int:
        """Remove a backup, marker first so it never looks complete while half-deleted."""
        prefix = f"{BACKUPS_PREFIX}{backup_id}/"
        self.repository.delete(backup_key(backup_id, MARKER))
        removed = 0
        for info in list(self.repository.list(prefix)):
            self.repository.delete(info.key)
            removed += info.size
        if isinstance(self.repository, LocalRepository):
            # A write killed mid-way leaves a hidden temp file that listing skips.
            shutil.rmtree(self.repository.root / BACKUPS_PREFIX / backup_id, ignore_errors=True)
        return removed


def _check_stored(what: str, found: tuple[int, str], entry: BackupFile) -> None:
    size, digest = found
    if (size, digest) != (entry.stored_size, entry.stored_sha256):
        raise IntegrityError(
            f"{what} is damaged: stored {size} bytes with SHA-256 {digest[:16]}…, "
            f"the manifest says {entry.stored_size} bytes, {entry.stored_sha256[:16]}…"
        )


def _check_plain(what: str, found: tuple[int, str], entry: BackupFile) -> None:
    if found != (entry.size, entry.sha256):
        raise IntegrityError(f"{what} decrypts to content that fails its checksum")


def check_same_cluster(identity: RepositoryIdentity, system_identifier: str, *, where: str) -> None:
    """Refuse when a repository serves another cluster, naming both identifiers."""
    if identity.system_identifier != str(system_identifier):
        raise RepositoryMismatchError(
            f"repository {where} belongs to the cluster with system identifier "
            f"{identity.system_identifier}, but this cluster's is {system_identifier}; use a "
            "separate repository per cluster (CHAIRSIDE_BACKUP_REPOSITORY)"
        )


def remove_staging(path: Path) -> None:
    """Remove a staging directory, whatever is left in it."""
    shutil.rmtree(path, ignore_errors=True)
