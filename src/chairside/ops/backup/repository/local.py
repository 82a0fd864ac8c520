"""A repository in a local (or mounted) directory; writes are temp file + fsync + rename."""

from __future__ import annotations

import contextlib
import errno
import functools
import io
import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from chairside.errors import ConfigError, InputError
from chairside.ops.backup.repository.base import (
    ObjectInfo,
    ObjectNotFoundError,
    RepositoryError,
    validate_key,
)


class LocalRepository:
    """Objects are files under ``root``; keys are their relative paths.

    Files get the usual mode (0666 minus the umask) rather than mkstemp's 0600: the
    ``postgres`` user archives WAL into the same repository that root writes backups to,
    and each must read the other's objects. When root writes into a repository whose
    root directory belongs to another user, new files and directories are handed to
    that owner, so WAL archiving (running as that user) can keep writing there.
    """

    def __init__(self, root: Path) -> None:
        self.root = root.expanduser().absolute()
        if self.root.exists() and not self.root.is_dir():
            raise ConfigError(
                f"backup repository {self.root} is a file, not a directory: point"
                " CHAIRSIDE_BACKUP_REPOSITORY at a directory (or an s3:// URL)"
            )

    @property
    def url(self) -> str:
        return str(self.root)

    def _path(self, key: str) -> Path:
        return self.root / validate_key(key)

    def put_bytes(self, key: str, data: bytes) -> None:
        self._write(key, lambda handle: handle.write(data))

    def put_file(self, key: str, path: Path) -> None:
        with path.open("rb") as source:
            self._write(key, lambda handle: shutil.copyfileobj(source, handle, 1024 * 1024))

    def adopt_file(self, key: str, path: Path) -> None:
        """Move ``path`` in as ``key``: a rename on the same filesystem, else a copy.

        The file is consumed. For staged backup files, which are written once and then
        thrown away, this saves copying (and re-reading) gigabytes.
        """
        target = self._path(key)
        tmp = target.parent / f".tmp-{secrets.token_hex(8)}.part"
        try:
            owner = self._owner()
            self._make_dirs(target.parent, owner)
            os.rename(path, tmp)
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                raise RepositoryError(f"repository {self.url}: cannot write {key}: {exc}") from None
            self.put_file(key, path)
            path.unlink()
            return
        try:
            os.chmod(tmp, 0o666 & ~_umask())
            if owner is not None:
                os.chown(tmp, *owner)
            fd = os.open(tmp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, target)
            fsync_dir(target.parent)
        except BaseException as exc:
            tmp.unlink(missing_ok=True)
            if isinstance(exc, OSError):
                raise RepositoryError(f"repository {self.url}: cannot write {key}: {exc}") from None
            raise

    def _write(self, key: str, fill: object) -> None:
        target = self._path(key)
        try:
            owner = self._owner()
            self._make_dirs(target.parent, owner)
            fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=".part")
            os.fchmod(fd, 0o666 & ~_umask())
            if owner is not None:
                os.fchown(fd, *owner)
        except OSError as exc:
            raise RepositoryError(f"repository {self.url}: cannot write {key}: {exc}") from None
        try:
            with os.fdopen(fd, "wb") as handle:
                fill(handle)  # type: ignore[operator]
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp_name, target)
            fsync_dir(target.parent)
        except BaseException as exc:
            Path(tmp_name).unlink(missing_ok=True)
            if isinstance(exc, OSError):
                raise RepositoryError(f"repository {self.url}: cannot write {key}: {exc}") from None
            raise

    def _owner(self) -> tuple[int, int] | None:
        """The (uid, gid) new objects should get, when root writes for another owner."""
        if os.geteuid() != 0:
            return None
        try:
            info = self.root.stat()
        except FileNotFoundError:
            return None
        return None if info.st_uid == 0 else (info.st_uid, info.st_gid)

    def _make_dirs(self, path: Path, owner: tuple[int, int] | None) -> None:
        missing = []
        current = path
        while not current.exists():
            missing.append(current)
            current = current.parent
        path.mkdir(parents=True, exist_ok=True)
        if owner is not None:
            for created in missing:
                if created != self.root:
                    os.chown(created, *owner)

    def get_bytes(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise ObjectNotFoundError(f"{key} is not in repository {self.url}") from None

    def get_file(self, key: str, path: Path) -> None:
        source = self._path(key)
        if not source.is_file():
            raise ObjectNotFoundError(f"{key} is not in repository {self.url}")
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.part")
        shutil.copyfile(source, tmp)
        os.replace(tmp, path)

    def open_read(self, key: str) -> IO[bytes]:
        try:
            return io.BufferedReader(_ReadAheadFile(self._path(key)), buffer_size=1 << 20)
        except (FileNotFoundError, IsADirectoryError):
            raise ObjectNotFoundError(f"{key} is not in repository {self.url}") from None

    def stat(self, key: str) -> ObjectInfo | None:
        try:
            info = self._path(key).stat()
        except FileNotFoundError:
            return None
        return ObjectInfo(key, info.st_size, datetime.fromtimestamp(info.st_mtime, UTC))

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        # Walk only the directory the prefix names (``wal/0000000100000000/``), not the
        # whole repository: WAL look-ups happen once per segment.
        if ".." in prefix.split("/"):
            raise InputError(f"repository prefix {prefix!r} may not contain '..'")
        start = self.root / prefix.rpartition("/")[0] if "/" in prefix else self.root
        if not start.is_dir():
            return
        keys = []
        for dirpath, _dirs, files in os.walk(start):
            for name in files:
                if name.startswith(".tmp-"):
                    continue  # an unfinished write, never an object
                key = os.path.relpath(os.path.join(dirpath, name), self.root)
                if key.startswith(prefix):
                    keys.append(key)
        for key in sorted(keys):
            info = self.stat(key)
            if info is not None:
                yield info

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)


class _ReadAheadFile(io.FileIO):
    """A file read front to back that asks the kernel for the next window ahead of time.

    A restore streams a backup file through verification, decompression and ``tar``; when
    the file is not in the page cache (a disaster restore), the kernel's own read-ahead
    (128 KiB) leaves the CPU waiting for the disk at each step. ``POSIX_FADV_WILLNEED``
    starts reading the next ``WINDOW`` bytes asynchronously, so the disk reads while
    the rest of the pipeline works, without pulling a whole multi-GB file into memory.
    """

    WINDOW = 64 << 20

    def __init__(self, path: Path) -> None:
        super().__init__(path, "rb")
        self._ahead = 0

    def readinto(self, buffer: Any) -> int | None:
        position = self.tell()
        if position + self.WINDOW // 2 >= self._ahead:
            with contextlib.suppress(OSError):
                os.posix_fadvise(self.fileno(), position, self.WINDOW, os.POSIX_FADV_WILLNEED)
            self._ahead = position + self.WINDOW
        return super().readinto(buffer)


@functools.cache
def _umask() -> int:
    # os.umask can only be read by setting it; read it once, not around every write
    # (another thread creating a file in between would get the wrong mode).
    current = os.umask(0o022)
    os.umask(current)
    return current


def fsync_dir(path: Path) -> None:
    """Make a rename or create inside ``path`` durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
