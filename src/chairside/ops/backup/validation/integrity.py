"""Integrity: the marker, every checksum, decryption, and the WAL a backup needs.

Each stored file is downloaded and checked one at a time (never the whole backup on
disk at once) through the catalog's verified fetch, which checks the stored bytes,
decrypts them with the configured key (a wrong key is named by its ``key_id`` before
anything is tried) and checks the plaintext. WAL segments are checked by the archive's
verified fetch, against the checksum in their key.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
import time
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path

from chairside.checks import CheckResult, CheckStatus
from chairside.errors import ChairsideError
from chairside.ops.backup.catalog import BackupCatalog
from chairside.ops.backup.codec import IntegrityError
from chairside.ops.backup.manifest import Manifest
from chairside.ops.backup.walarchive import ArchivedWal, WalArchive


def check_marker(catalog: BackupCatalog, backup_id: str) -> tuple[CheckResult, Manifest | None]:
    """The completion marker vouches for the manifest; the manifest, when it does."""
    began = time.monotonic()
    try:
        manifest = catalog.read_manifest(backup_id)
    except ChairsideError as exc:
        return _result("marker", CheckStatus.CRITICAL, exc.message, began), None
    return (
        _result("marker", CheckStatus.OK, "COMPLETE marker matches manifest.json", began),
        manifest,
    )


def check_files(catalog: BackupCatalog, manifest: Manifest, *, scratch: Path) -> CheckResult:
    """Every payload file: stored checksum, decryption with the key, plaintext checksum."""
    began = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="validate-", dir=scratch))
    checked = 0
    try:
        for entry in manifest.files:
            try:
                catalog.fetch_files(manifest.id, work, names=[entry.name])
            except ChairsideError as exc:
                return _result(
                    "files", CheckStatus.CRITICAL, exc.message, began, {"file": entry.name}
                )
            (work / entry.name).unlink(missing_ok=True)
            checked += 1
    finally:
        shutil.rmtree(work, ignore_errors=True)
    how = "decrypted and " if manifest.encryption else ""
    return _result(
        "files",
        CheckStatus.OK,
        f"{checked} files ({manifest.stored_size} bytes stored) {how}match their SHA-256",
        began,
        {"files": checked, "bytes": manifest.stored_size},
    )


def check_wal_segments(
    archive: WalArchive,
    segments: Sequence[str],
    *,
    listed: Mapping[str, ArchivedWal] | None = None,
    duplicates: Collection[str] = (),
) -> CheckResult:
    """Every archived WAL segment in ``segments`` decrypts and matches its checksum.

    ``listed`` are the segments' archive objects from one listing (no lookup per
    segment); ``duplicates`` names segments archived more than once.
    """
    began = time.monotonic()
    for name in segments:
        if name in duplicates:
            return _result(
                "wal_integrity", CheckStatus.CRITICAL,
                f"WAL {name} is archived more than once with different content", began,
                {"segment": name},
            )  # fmt: skip
        try:
            entry = (listed or {}).get(name) or _only(archive.find(name), name)
            content = archive.content(entry)
            if entry.sha256 and hashlib.sha256(content).hexdigest() != entry.sha256:
                raise IntegrityError(
                    f"archived WAL {name} is damaged: its content does not match the "
                    f"checksum in its key {entry.key}"
                )
        except ChairsideError as exc:
            return _result(
                "wal_integrity", CheckStatus.CRITICAL, exc.message, began, {"segment": name}
            )
    return _result(
        "wal_integrity",
        CheckStatus.OK,
        f"{len(segments)} archived WAL segments match their checksums",
        began,
        {"segments": len(segments)},
    )


def _only(found: list[ArchivedWal], name: str) -> ArchivedWal:
    if not found:
        raise IntegrityError(f"WAL {name} is missing from the archive")
    if len(found) > 1:
        raise IntegrityError(f"WAL {name} is archived more than once with different content")
    return found[0]


def _result(
    name: str,
    status: CheckStatus,
    summary: str,
    began: float,
    details: dict[str, object] | None = None,
) -> CheckResult:
    return CheckResult(
        name, status, summary, round((time.monotonic() - began) * 1000, 1), details or {}
    )
