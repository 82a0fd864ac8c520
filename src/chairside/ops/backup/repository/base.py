"""The storage interface every backup repository implements.

A repository is a flat key space (``backups/<id>/manifest.json``, ``wal/...``). Every
write is atomic: after ``put_*`` returns, the object is there whole; if it fails or the
process dies, the key is absent or keeps its previous content, never half-written.
Completeness of a *backup* (many objects) is built above this, by writing its marker
object last.

Errors: :class:`RepositoryError` (the store failed or is unreachable; names the
repository) and :class:`ObjectNotFoundError` (no such key).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Protocol, runtime_checkable

from chairside.errors import DependencyDownError, InputError, NotFoundError

if TYPE_CHECKING:
    from chairside.config import Settings


class RepositoryError(DependencyDownError):
    """A repository failed or did not answer; the message names it."""


class ObjectNotFoundError(NotFoundError):
    """The key is not in the repository."""


@dataclass(frozen=True)
class ObjectInfo:
    """An object's key (relative to the repository), size in bytes and modification time.

    ``sha256`` is the content's checksum when the backend knows it without reading the
    object (S3 keeps it as metadata on objects Chairside wrote); None otherwise.
    """

    key: str
    size: int
    modified: datetime | None = None
    sha256: str | None = None


@runtime_checkable
class Repository(Protocol):
    """Put, get (whole or streamed), stat, list and delete objects; every put is atomic."""

    @property
    def url(self) -> str:
        """Where this repository is, without credentials (for messages and reports)."""
        ...

    def put_bytes(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key``, replacing any previous object atomically."""
        ...

    def put_file(self, key: str, path: Path) -> None:
        """Store the file at ``path`` under ``key`` (large files stream, never load whole)."""
        ...

    def get_bytes(self, key: str) -> bytes:
        """The object's content; :class:`ObjectNotFoundError` when absent."""
        ...

    def get_file(self, key: str, path: Path) -> None:
        """Write the object to ``path`` (atomically: a temp file renamed into place)."""
        ...

    def open_read(self, key: str) -> IO[bytes]:
        """A stream of the object's content, for reading large objects without a copy.

        :class:`ObjectNotFoundError` when absent; the caller closes it.
        """
        ...

    def stat(self, key: str) -> ObjectInfo | None:
        """The object's info, or None when absent."""
        ...

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """Every object whose key starts with ``prefix``, in key order, page by page."""
        ...

    def delete(self, key: str) -> None:
        """Remove the object; removing an absent key is not an error."""
        ...


def validate_key(key: str) -> str:
    """Keys are relative, slash-separated, without ``..``; anything else is refused."""
    if not key or key.startswith("/") or any(part in {"", ".", ".."} for part in key.split("/")):
        raise InputError(
            f"repository key {key!r} is invalid: use a relative path like 'backups/ID/file'"
        )
    return key


def open_repository(url: str, settings: Settings | None = None) -> Repository:
    """The repository at ``url``: a local path (or ``file://``), or ``s3://bucket/prefix``.

    ``settings`` supply the S3 defaults (endpoint, credentials…); the process-wide
    settings when omitted.
    """
    if url.startswith("s3://"):
        from chairside.ops.backup.repository.s3 import S3Repository

        repository: Repository = S3Repository.from_url(url, settings)
        return repository
    if "://" in url and not url.startswith("file://"):
        raise InputError(
            f"repository {url!r} has an unknown scheme; use a local path, file://PATH, "
            "or s3://bucket/prefix",
            field="repository",
        )
    from chairside.ops.backup.repository.local import LocalRepository

    return LocalRepository(Path(url.removeprefix("file://")))
