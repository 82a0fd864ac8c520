"""Full backups: a physical base backup by PostgreSQL's own ``pg_basebackup``.

``pg_basebackup -Ft --compress=server-zstd -X stream`` has the server compress the data
files as it reads them (the network and the staging disk see compressed bytes) and
streams the WAL the backup needs alongside, into ``pg_wal.tar``, which Chairside then
compresses. The backup is therefore self-contained (consistent without the WAL
archive), and the WAL range recorded in the manifest (from ``backup_manifest``'s
``WAL-Ranges``) lets a restore roll forward from the archive to any later moment.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import threading
from collections import deque
from pathlib import Path

from chairside.config import Settings
from chairside.errors import OperationFailedError
from chairside.ops.backup import codec
from chairside.ops.backup.processes import die_with_parent
from chairside.ops.backup.runner import BackupProgress, BackupResult, Produced, run_backup
from chairside.ops.backup.source import ServerFacts, SourceCluster
from chairside.ops.backup.walarchive import parse_lsn, segment_name
from chairside.ops.timeline.store import OpsStore

_PROGRESS = re.compile(r"(\d+)/(\d+) kB")


def take_full_backup(
    settings: Settings,
    *,
    progress: BackupProgress | None = None,
    store: OpsStore | None = None,
) -> BackupResult:
    """Take a full (physical) backup of the configured cluster into the repository."""
    level = settings.backup_compression_level
    workers = settings.backup_compression_workers

    def produce(
        staging: Path, source: SourceCluster, facts: ServerFacts, progress: BackupProgress
    ) -> Produced:
        return run_pg_basebackup(staging, source, facts, progress, level=level, workers=workers)

    return run_backup(settings, "full", produce, progress=progress, store=store)


def run_pg_basebackup(
    staging: Path,
    source: SourceCluster,
    facts: ServerFacts,
    progress: BackupProgress,
    *,
    level: int,
    workers: int = 0,
) -> Produced:
    """Run pg_basebackup into ``staging`` and describe what it produced."""
    if facts.in_recovery:
        label_note = "from a standby"
    else:
        label_note = "from the primary"
    target = staging / "pg"
    argv = [
        source.tool("pg_basebackup"),
        "-d", source.conninfo(),
        "-D", str(target),
        "-Ft",
        f"--compress=server-zstd:level={level}" + (f",workers={workers}" if workers else ""),
        "-X", "stream",
        "--checkpoint=fast",
        "--label", f"chairside {staging.name} ({label_note})",
        "--no-password",
        "--progress",
        "--verbose",
    ]  # fmt: skip
    progress.phase("pg_basebackup", None)
    _run_with_progress(argv, source, progress)
    manifest_path = target / "backup_manifest"
    try:
        ranges = json.loads(manifest_path.read_text())["WAL-Ranges"]
    except (OSError, ValueError, KeyError) as exc:
        raise OperationFailedError(
            f"pg_basebackup finished without a readable backup_manifest ({exc}); "
            "the backup is not usable"
        ) from None
    timeline = int(ranges[-1]["Timeline"])
    start_lsn = str(ranges[0]["Start-LSN"])
    stop_lsn = str(ranges[-1]["End-LSN"])
    size = facts.wal_segment_size
    # The end LSN points just past the last record needed: the segment holding the byte
    # before it is the last one required.
    start_wal = segment_name(int(ranges[0]["Timeline"]), parse_lsn(start_lsn) // size, size)
    stop_wal = segment_name(timeline, (parse_lsn(stop_lsn) - 1) // size, size)
    files = []
    for path in sorted(target.iterdir()):
        if path.suffix == ".tar":
            # pg_wal.tar (and nothing else, with server-side compression) comes uncompressed.
            progress.phase(f"compressing {path.name}", path.stat().st_size)
            compressed = path.with_name(path.name + ".zst")
            codec.compress_file(path, compressed, level=level)
            path.unlink()
            progress.advance(compressed.stat().st_size)
            files.append(compressed)
        else:
            files.append(path)
    files.sort(key=lambda p: (p.name != "backup_manifest", p.name))
    return Produced(
        files=files,
        timeline=timeline,
        start_lsn=start_lsn,
        stop_lsn=stop_lsn,
        start_wal=start_wal,
        stop_wal=stop_wal,
        compression="zstd",
        extra={"wal_included": True, "tool": "pg_basebackup"},
    )


# pg_basebackup -X stream forks a WAL receiver that would outlive a killed parent (the
# parent-death signal is not inherited by its children). So it runs under a shell that
# leads a process group of its own: when Chairside dies, the shell gets SIGTERM and
# takes the whole group, receiver included, with it.
_GROUP_GUARD = 'trap "trap - TERM; kill 0" TERM; "$0" "$@" & wait $!'


def _run_with_progress(argv: list[str], source: SourceCluster, progress: BackupProgress) -> None:
    """Run a pg tool that reports ``done/total kB`` on stderr; keep the tail for errors."""
    process = subprocess.Popen(
        ["/bin/sh", "-c", _GROUP_GUARD, *argv],
        env=source.env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        preexec_fn=die_with_parent,
        process_group=0,
    )
    tail: deque[str] = deque(maxlen=12)

    def read() -> None:
        assert process.stderr is not None
        buffer = b""
        total_known = False
        stream = process.stderr
        while chunk := os.read(stream.fileno(), 4096):
            buffer += chunk
            *lines, buffer = re.split(rb"[\r\n]", buffer)
            for raw in lines:
                line = raw.decode(errors="replace").strip()
                if not line:
                    continue
                match = _PROGRESS.search(line)
                if match:
                    done, total = int(match[1]) * 1024, int(match[2]) * 1024
                    if not total_known:
                        progress.phase("pg_basebackup", total)
                        total_known = True
                    progress.update(done)
                else:
                    tail.append(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        code = process.wait()
    finally:
        if process.poll() is None:  # interrupted (Ctrl-C): stop the whole group
            process.terminate()
            process.wait(timeout=30)
    reader.join(timeout=5)
    if process.stderr is not None:
        process.stderr.close()
    if code != 0:
        raise OperationFailedError(
            f"pg_basebackup failed with exit code {code}: " + " | ".join(tail)
        )
