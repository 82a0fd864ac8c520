"""What a backup is: its manifest, its completion marker and its id.

The manifest (``backups/<id>/manifest.json``) names the backup's type, the cluster it
came from, its WAL range and every payload file with sizes and checksums; the marker
(``backups/<id>/COMPLETE``) carries the manifest's SHA-256 and is written last. Both
are specified in docs/backup-format.md; this module is their only (de)serialiser.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, cast

from chairside import __version__
from chairside.errors import InputError, OperationFailedError

FORMAT_VERSION = 1
BackupType = Literal["full", "logical", "schema"]
BACKUP_TYPES: tuple[BackupType, ...] = ("full", "logical", "schema")
ID_PATTERN = re.compile(r"^(\d{8}T\d{6}Z)-(full|logical|schema)$")


class ManifestError(OperationFailedError):
    """A manifest or marker is malformed (the repository was damaged or hand-edited)."""


@dataclass(frozen=True)
class BackupFile:
    """One payload file: as produced (``size``/``sha256``) and as stored (``stored_*``)."""

    name: str
    size: int
    sha256: str
    stored_size: int
    stored_sha256: str


@dataclass(frozen=True)
class Encryption:
    """How a backup's files are encrypted; ``key_id`` names the key without revealing it."""

    algorithm: str
    key_id: str


@dataclass(frozen=True)
class Manifest:
    """Everything a restore or a validation needs to know about one backup."""

    id: str
    type: BackupType
    pg_version: int
    system_identifier: str
    start_time: datetime
    stop_time: datetime
    files: tuple[BackupFile, ...]
    timeline: int | None = None
    start_lsn: str | None = None
    stop_lsn: str | None = None
    start_wal: str | None = None
    stop_wal: str | None = None
    wal_segment_size: int | None = None
    database: str | None = None
    compression: str | None = "zstd"
    encryption: Encryption | None = None
    chairside_version: str = __version__
    format: int = FORMAT_VERSION
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def total_size(self) -> int:
        """Bytes as produced (before encryption)."""
        return sum(f.size for f in self.files)

    @property
    def stored_size(self) -> int:
        """Bytes the backup occupies in the repository."""
        return sum(f.stored_size for f in self.files)

    def file(self, name: str) -> BackupFile:
        """The payload file called ``name``."""
        for entry in self.files:
            if entry.name == name:
                return entry
        raise InputError(
            f"backup {self.id} has no file {name!r}; it has "
            + ", ".join(f.name for f in self.files)
        )

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "format": self.format,
            "id": self.id,
            "type": self.type,
            "pg_version": self.pg_version,
            "system_identifier": self.system_identifier,
            "timeline": self.timeline,
            "start_lsn": self.start_lsn,
            "stop_lsn": self.stop_lsn,
            "start_wal": self.start_wal,
            "stop_wal": self.stop_wal,
            "wal_segment_size": self.wal_segment_size,
            "start_time": self.start_time.isoformat(),
            "stop_time": self.stop_time.isoformat(),
            "database": self.database,
            "compression": self.compression,
            "encryption": asdict(self.encryption) if self.encryption else None,
            "files": [asdict(f) for f in self.files],
            "chairside_version": self.chairside_version,
        }
        data.update(self.extra)
        return data

    def to_json(self) -> bytes:
        """The manifest as stored: indented UTF-8 JSON (its SHA-256 goes in the marker)."""
        return (json.dumps(self.to_dict(), indent=2) + "\n").encode()

    @classmethod
    def from_json(cls, raw: bytes, *, where: str = "manifest") -> Manifest:
        """Parse a stored manifest; unknown fields are kept in ``extra``."""
        try:
            data = json.loads(raw)
            known = {
                "format", "id", "type", "pg_version", "system_identifier", "timeline",
                "start_lsn", "stop_lsn", "start_wal", "stop_wal", "wal_segment_size",
                "start_time", "stop_time", "database", "compression", "encryption",
                "files", "chairside_version",
            }  # fmt: skip
            if data.get("format") != FORMAT_VERSION:
                raise ManifestError(
                    f"{where} has format {data.get('format')!r}; this Chairside reads format "
                    f"{FORMAT_VERSION}"
                )
            if data["type"] not in BACKUP_TYPES:
                raise ManifestError(f"{where} has unknown type {data['type']!r}")
            encryption = data.get("encryption")
            return cls(
                id=str(data["id"]),
                type=cast(BackupType, data["type"]),
                pg_version=int(data["pg_version"]),
                system_identifier=str(data["system_identifier"]),
                timeline=_opt_int(data.get("timeline")),
                start_lsn=data.get("start_lsn"),
                stop_lsn=data.get("stop_lsn"),
                start_wal=data.get("start_wal"),
                stop_wal=data.get("stop_wal"),
                wal_segment_size=_opt_int(data.get("wal_segment_size")),
                start_time=datetime.fromisoformat(data["start_time"]),
                stop_time=datetime.fromisoformat(data["stop_time"]),
                database=data.get("database"),
                compression=data.get("compression"),
                encryption=Encryption(**encryption) if encryption else None,
                files=tuple(BackupFile(**entry) for entry in data["files"]),
                chairside_version=str(data.get("chairside_version", "")),
                format=int(data["format"]),
                extra={k: v for k, v in data.items() if k not in known},
            )
        except ManifestError:
            raise
        except (ValueError, KeyError, TypeError) as exc:
            raise ManifestError(f"{where} is malformed: {exc!r}") from None


@dataclass(frozen=True)
class Marker:
    """The completion marker: written last, it vouches for one exact manifest."""

    manifest_sha256: str
    completed: datetime

    def to_json(self) -> bytes:
        data = {"manifest_sha256": self.manifest_sha256, "completed": self.completed.isoformat()}
        return (json.dumps(data) + "\n").encode()

    @classmethod
    def from_json(cls, raw: bytes, *, where: str = "marker") -> Marker:
        try:
            data = json.loads(raw)
            return cls(str(data["manifest_sha256"]), datetime.fromisoformat(data["completed"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise ManifestError(f"{where} is malformed: {exc!r}") from None


def new_backup_id(backup_type: BackupType, at: datetime | None = None) -> str:
    """``<UTC start as YYYYMMDDTHHMMSSZ>-<type>``: ids sort in time order."""
    moment = (at or datetime.now(UTC)).astimezone(UTC)
    return f"{moment:%Y%m%dT%H%M%SZ}-{backup_type}"


def parse_backup_id(backup_id: str) -> tuple[datetime, BackupType]:
    """The start time and type encoded in a backup id; InputError for anything else."""
    match = ID_PATTERN.match(backup_id)
    if not match:
        raise InputError(
            f"backup id {backup_id!r} is malformed; ids look like 20261123T044200Z-full "
            "(see `chairside backup list`)",
            field="backup_id",
        )
    moment = datetime.strptime(match.group(1), "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    return moment, cast(BackupType, match.group(2))


def _opt_int(value: object) -> int | None:
    return None if value is None else int(cast(int, value))
