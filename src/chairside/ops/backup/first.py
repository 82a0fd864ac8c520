"""The first base backup of a cluster, so point-in-time recovery works from the start.

Archived WAL alone restores nothing: recovery replays WAL on top of a base backup. So
``chairside up`` takes one right after the embedded cluster starts, when its repository
holds no complete full backup yet; from then on every archived segment extends the
recoverable window.
"""

from __future__ import annotations

from chairside.config import Settings
from chairside.ops.backup import access
from chairside.ops.backup.basebackup import take_full_backup


def ensure_first_full_backup(settings: Settings) -> str | None:
    """Take a full backup when the repository has none; its id, or None if one existed."""
    entries = access.catalog(settings).list_backups()
    if any(entry.manifest is not None and entry.manifest.type == "full" for entry in entries):
        return None
    return take_full_backup(settings).manifest.id
