"""Full backups: a physical base backup by PostgreSQL's own ``pg_basebackup``.

``pg_basebackup -Ft --compress=server-zstd -X stream`` has the server compress the data
files as it reads them (the network and the staging disk see compressed bytes) and
streams the WAL the backup needs alongside, into ``pg_wal.tar``, which Chairside then
compresses. The backup is therefore self-contained (consistent without the WAL
archive), and the WAL range recorded in the manifest (from ``backup_manifest``'s
``WAL-Ranges``) lets a restore roll forward from the archive to any later moment.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import subprocess
import threading
import time
from collections import deque
from pathlib import Path

from chairside.config import Settings
from chairside.errors import OperationFailedError
from chairside.ops.backup import codec
from chairside.ops.backup.processes import die_with_parent
from chairside.ops.backup.runner import BackupProgress, BackupResult, Produced, run_backup
from chairside.ops.backup.source import BackupOrigin, ServerFacts, SourceCluster
from chairside.ops.backup.walarchive import parse_lsn, segment_name
from chairside.ops.timeline.store import OpsStore

_PROGRESS = re.compile(r"(\d+)/(\d+) kB")


def take_full_backup(
    settings: Settings,
    *,
    progress: BackupProgress | None = None,
    store: OpsStore | None = None,
    origin: BackupOrigin | None = None,
) -> BackupResult:
    """Take a full (physical) backup of the configured cluster into the repository.

    ``origin`` (default ``CHAIRSIDE_BACKUP_FROM``): "replica" copies the files from a
    streaming replica. pg_basebackup on a standby takes its start from the last restart
    point and its stop from the replayed position, without a WAL switch on the leader;
    ``-X stream`` brings the WAL in between, so the backup is consistent on its own.
    """
    level = settings.backup_compression_level
    workers = settings.backup_compression_workers

    def produce(
        staging: Path, source: SourceCluster, facts: ServerFacts, progress: BackupProgress
    ) -> Produced:
        return run_pg_basebackup(staging, source, facts, progress, level=level, workers=workers)

    return run_backup(
        settings,
        "full",
        produce,
        progress=progress,
        store=store,
        origin=origin or settings.backup_from,
    )


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
        # The repository makes every file durable as it takes it (fsync before the
        # rename; an upload needs none), and the follower starts writing the archive
        # out while it grows: pg_basebackup's own sync at the end would only wait.
        "--no-sync",
        "--progress",
        "--verbose",
    ]  # fmt: skip
    progress.phase("pg_basebackup", None)
    follower = ArchiveFollower(target)
    follower.start()
    try:
        _run_with_progress(argv, source, progress)
    finally:
        checksums = follower.finish()
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
        checksums=checksums,
    )


class ArchiveFollower:
    """Checksums pg_basebackup's compressed archives, and writes them out, as they grow.

    Otherwise the upload reads the whole archive again for its SHA-256 after
    pg_basebackup has finished, and the repository's fsync then waits for all of it
    to reach the disk. Both overlap with the backup here instead.

    pg_basebackup writes a server-compressed archive (``*.tar.zst``) front to back and
    never goes back (it seeks only in ``pg_wal.tar``, which is not followed), and a
    reader never sees past the bytes already written: what is read here is what is
    stored. :meth:`finish` still checks each file's size and identity against what was
    read; a file that disagrees gets no checksum here, and the upload takes it again.
    """

    _BLOCK = 1024 * 1024
    _WRITE_OUT_EVERY = 64 * 1024 * 1024
    _PATTERN = "*.tar.zst"

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._followed: dict[str, _Followed] = {}
        self._finished = threading.Event()
        self._failed: OSError | None = None
        self._thread = threading.Thread(target=self._run, name="archive-follower", daemon=True)

    def start(self) -> None:
        """Start following (the files need not exist yet)."""
        self._thread.start()

    def finish(self) -> dict[str, tuple[int, str]]:
        """pg_basebackup has exited: read the rest; size and SHA-256 by file name."""
        self._finished.set()
        self._thread.join()
        checksums = {}
        for name, followed in self._followed.items():
            try:
                info = (self.directory / name).stat()
            except OSError:
                info = None
            finally:
                followed.handle.close()
            if self._failed is None and info is not None and followed.matches(info):
                checksums[name] = (followed.size, followed.digest.hexdigest())
        return checksums

    def _run(self) -> None:
        try:
            while True:
                last = self._finished.is_set()  # after this, one more pass reads the rest
                grew = False
                for path in self.directory.glob(self._PATTERN):
                    grew = self._follow(path) or grew  # every file, not only the first
                if last:
                    return
                if not grew:
                    time.sleep(0.05)
        except OSError as exc:  # the upload will checksum the files itself
            self._failed = exc

    def _follow(self, path: Path) -> bool:
        followed = self._followed.get(path.name)
        if followed is None:
            followed = self._followed[path.name] = _Followed(path.open("rb", buffering=0))
        grew = False
        while block := followed.handle.read(self._BLOCK):
            followed.digest.update(block)
            followed.size += len(block)
            grew = True
            if followed.size - followed.written_out >= self._WRITE_OUT_EVERY:
                # Start the disk on this part now (the kernel would otherwise hold it
                # until the final fsync); blocks this thread only.
                os.fdatasync(followed.handle.fileno())
                followed.written_out = followed.size
        return grew


class _Followed:
    def __init__(self, handle: io.FileIO) -> None:
        self.handle = handle
        self.inode = os.fstat(handle.fileno()).st_ino
        self.digest = hashlib.sha256()
        self.size = 0
        self.written_out = 0

    def matches(self, info: os.stat_result) -> bool:
        return info.st_ino == self.inode and info.st_size == self.size


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
