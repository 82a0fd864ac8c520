"""Unpacking a base backup's tar streams into a new data directory, as fast as the disk.

A restore writes gigabytes into a fresh directory, and PostgreSQL's first act on it is to
fsync every file (a backup's copy was not shut down cleanly). Left alone, the kernel
holds most of those pages dirty until that fsync, so the disk idles while ``tar`` runs
and the CPU idles while the disk writes. Three things keep both busy:

- ``tar`` runs as the server user (every file is born with the right owner) and reads
  the decompressed stream from a pipe with a large buffer, so decompression here and
  extraction there overlap;
- the stream comes straight from the repository through :meth:`BackupCatalog.open_file`,
  which checks the stored and the plain SHA-256 as the bytes pass (no copy of the
  archive on disk, no second read to verify it); a mismatch fails the unpack once the
  stream ends, before any server runs, and the half-filled directory is discarded;
- a :class:`WritebackFlusher` thread asks the kernel to write the extracted files out
  while ``tar`` is still extracting, so by the time PostgreSQL fsyncs them they are
  clean. It only starts writes early: durability still comes from PostgreSQL's own
  fsync at start-up, exactly as for any restored copy.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import subprocess
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import zstandard

from chairside.errors import OperationFailedError
from chairside.ops.backup.catalog import BackupCatalog
from chairside.ops.backup.manifest import Manifest
from chairside.runtime.osuser import OsUser, hand_over

_CHUNK = 1024 * 1024
_PIPE_SIZE = 1024 * 1024  # the kernel caps it at /proc/sys/fs/pipe-max-size (1 MiB default)
# tar reads and writes one record at a time, 10 KiB by default: 200,000 reads and as many
# writes for a 2 GB backup, which made tar the slowest stage of the unpack. 1 MiB records
# (-b 2048, in 512-byte blocks) cut that 100-fold; -B accepts the short reads a pipe gives.
_TAR_RECORD_BLOCKS = 2048
_FLUSH_INTERVAL = 0.1

BASE_ARCHIVES = ("base.tar.zst", "base.tar")
WAL_ARCHIVES = ("pg_wal.tar.zst", "pg_wal.tar")


def is_archive(name: str) -> bool:
    """Whether a backup file is a tar archive (streamed into the data directory)."""
    return name.endswith((".tar", ".tar.zst"))


class WritebackFlusher:
    """Writes a directory's files out in the background while they are being created.

    Every ``interval`` it looks for files that changed (size or time) since it last
    flushed them and ``fsync``s them, metadata included; leaving the block flushes what
    changed since. A failure is ignored: this only moves writes earlier, it never decides
    whether data is durable.
    """

    def __init__(self, directory: Path, *, interval: float = _FLUSH_INTERVAL) -> None:
        self.directory = directory
        self.interval = interval
        self._flushed: dict[str, tuple[int, int]] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> WritebackFlusher:
        self._thread = threading.Thread(target=self._run, name="writeback", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sweep()
            self._stop.wait(self.interval)
        self.sweep()

    def sweep(self) -> None:
        """Flush every file that changed since the last sweep."""
        for dirpath, _dirs, files in os.walk(self.directory):
            for name in files:
                path = os.path.join(dirpath, name)
                try:
                    info = os.lstat(path)
                    seen = (info.st_size, info.st_mtime_ns)
                    if self._flushed.get(path) == seen:
                        continue
                    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
                except OSError:
                    continue  # a symlink, a file tar is replacing, one we may not open
                try:
                    os.fsync(fd)
                    self._flushed[path] = seen
                except OSError:
                    pass
                finally:
                    os.close(fd)


def unpack_backup(
    catalog: BackupCatalog, manifest: Manifest, data_dir: Path, *, user: OsUser
) -> None:
    """Unpack a full backup's tar files into ``data_dir`` (new, 0700, owned by ``user``)."""
    names = {entry.name for entry in manifest.files}
    base = next((name for name in BASE_ARCHIVES if name in names), None)
    if base is None:
        raise OperationFailedError(
            f"backup {manifest.id} has no base.tar.zst or base.tar; it is not a full backup"
        )
    others = sorted(
        name for name in names if is_archive(name) and not name.startswith(("base.", "pg_wal."))
    )
    if others:
        raise OperationFailedError(
            f"the backup has tablespace archives ({', '.join(others)}); restoring tablespaces "
            "is not supported"
        )
    if data_dir.exists() and any(data_dir.iterdir()):
        raise OperationFailedError(f"{data_dir} is not empty; a restore needs a new directory")
    hand_over(data_dir, user)
    with WritebackFlusher(data_dir):
        with catalog.open_file(manifest, base) as stream:
            untar(stream, base, data_dir, user=user)
        wal = next((name for name in WAL_ARCHIVES if name in names), None)
        if wal is not None:
            hand_over(data_dir / "pg_wal", user)
            with catalog.open_file(manifest, wal) as stream:
                untar(stream, wal, data_dir / "pg_wal", user=user)
    hand_over(data_dir / "pg_wal" / "archive_status", user)
    data_dir.chmod(0o700)


def untar(stream: IO[bytes], name: str, directory: Path, *, user: OsUser) -> None:
    """Extract the tar (zstd-compressed when ``name`` ends in .zst) read from ``stream``."""
    argv = ["tar", "-x", "-B", "-b", str(_TAR_RECORD_BLOCKS), "-f", "-", "-C", str(directory)]
    ids: dict[str, Any] = {}
    if not user.is_current:
        ids = {"user": user.uid, "group": user.gid, "extra_groups": []}
    read: Callable[[int], bytes] = stream.read
    # tar's complaints go to a file: a full stderr pipe would stall it while we write.
    with (
        tempfile.TemporaryFile() as stderr,
        subprocess.Popen(argv, stdin=subprocess.PIPE, stderr=stderr, cwd="/", **ids) as process,
    ):
        assert process.stdin is not None
        _widen_pipe(process.stdin.fileno())
        try:
            if name.endswith(".zst"):
                reader = zstandard.ZstdDecompressor().stream_reader(
                    stream, read_size=_CHUNK, closefd=False, read_across_frames=True
                )
                read = reader.read
            while chunk := read(_CHUNK):
                process.stdin.write(chunk)
            process.stdin.close()
        except BrokenPipeError:
            # tar stopped reading: its exit status and its words say whether that was fine
            with contextlib.suppress(BrokenPipeError):
                process.stdin.close()
        except zstandard.ZstdError as exc:
            process.kill()
            raise OperationFailedError(f"unpacking {name} failed: {exc}") from None
        except BaseException:
            process.kill()
            raise
        if process.wait() != 0:
            stderr.seek(0)
            errors = stderr.read().decode(errors="replace").strip()[-500:]
            raise OperationFailedError(f"unpacking {name} failed: {errors or 'tar stopped'}")


def _widen_pipe(fd: int) -> None:
    # 64 KiB by default: tar and the decompressor would take turns every 64 KiB.
    try:
        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, _PIPE_SIZE)
    except (OSError, AttributeError):
        pass
