"""From settings to the objects every backup, WAL, restore and validation command uses.

One place decides which repository and which key are in force, so a command can never
read with one key and write with another, and "encryption configured but key missing"
is refused the same way everywhere (before anything is written).
"""

from __future__ import annotations

from chairside.config import Settings
from chairside.ops.backup.catalog import BackupCatalog
from chairside.ops.backup.codec import BackupKey, load_key
from chairside.ops.backup.repository import Repository, open_repository
from chairside.ops.backup.walarchive import WalArchive


def backup_key(settings: Settings) -> BackupKey | None:
    """The configured encryption key, None when encryption is off; refuses a missing file."""
    return load_key(settings.backup_key_file)


def repository(settings: Settings, url: str | None = None) -> Repository:
    """The repository at ``url`` (default: the configured one)."""
    return open_repository(url or settings.backup_repository_url, settings)


def catalog(settings: Settings, url: str | None = None) -> BackupCatalog:
    """The backup catalog of the configured (or given) repository, with the configured key."""
    return BackupCatalog(repository(settings, url), key=backup_key(settings))


def wal_archive(settings: Settings, url: str | None = None) -> WalArchive:
    """The WAL archive of the configured (or given) repository, with the configured key."""
    return WalArchive(
        repository(settings, url),
        key=backup_key(settings),
        compression_level=settings.backup_compression_level,
    )
