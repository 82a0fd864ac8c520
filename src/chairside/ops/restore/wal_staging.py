"""Feeding archived WAL to a recovering cluster while it replays.

Recovery asks for segments one at a time through ``restore_command``. Starting a
Python process per segment (as ``chairside wal fetch`` would) costs more than replaying
a small segment, so a restore stages instead: a background fetcher downloads, verifies,
decrypts and decompresses the planned segments in order, a few at a time, into a
staging directory, and ``restore_command`` is a tiny shell script that waits for the
segment to arrive there and hard-links it into ``pg_wal`` (copying when the two are on
different file systems). Segments outside the plan (PostgreSQL probes for newer
timelines and for the segment after the last) are answered "not here" at once. The
fetcher stays a bounded distance ahead of the newest segment PostgreSQL asked for, so a
restore to an early target does not download the whole archive; that distance is
fetched while the base backup is still being unpacked, on the CPU the unpack leaves idle.

The server keeps every restored segment and fsyncs it before replaying it. Staged files
therefore belong to the server user, and once replay has begun a writer thread fsyncs
the next few, so the disk writes them while the server replays instead of in between.

A fetch failure is recorded and ends the chain at that segment; the orchestrator then
refuses the result, so a damaged segment never turns into a quiet restore to an
earlier point.
"""

from __future__ import annotations

import hashlib
import os
import shlex
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from chairside.errors import ChairsideError, OperationFailedError
from chairside.ops.backup.codec import IntegrityError
from chairside.ops.backup.walarchive import ArchivedWal, WalArchive
from chairside.runtime.osuser import OsUser

WRITE_AHEAD = 4  # segments written out ahead of replay (each is fsynced by the server)

SCRIPT_NAME = "restore_wal.sh"
PLAN_NAME = "plan.txt"

_SCRIPT = """#!/bin/sh
# Written by chairside for one restore: restore_command = '<this script> %f %p'.
dir={dir}
name="$1"
target="$2"
touch "$dir/.requested-$name" 2>/dev/null
give() {{ ln "$dir/$name" "$target" 2>/dev/null || exec cp "$dir/$name" "$target"; }}
if [ -f "$dir/$name" ]; then give; exit 0; fi
grep -qx "$name" "$dir/{plan}" || exit 1
while :; do
  if [ -f "$dir/$name" ]; then give; exit 0; fi
  if [ -f "$dir/.failed-$name" ] || [ -f "$dir/.stopped" ]; then exit 1; fi
  sleep 0.02
done
"""


class WalStager:
    """Stages ``segments`` (in replay order) into ``directory`` for ``restore_command``."""

    def __init__(
        self,
        archive: WalArchive,
        directory: Path,
        segments: Sequence[str],
        *,
        workers: int = 4,
        ahead: int = 32,
        archived: Mapping[str, ArchivedWal] | None = None,
        owner: OsUser | None = None,
    ) -> None:
        self.archive = archive
        self.directory = directory
        self.segments = list(segments)
        self.workers = max(1, workers)
        self.ahead = max(ahead, self.workers)
        self.archived = dict(archived or {})
        self.owner = owner
        self.error: ChairsideError | None = None
        self.failed_segment: str | None = None
        self.fetched = 0
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    @property
    def script(self) -> Path:
        return self.directory / SCRIPT_NAME

    def prepare(self, *, history_files: Sequence[str] = ()) -> None:
        """Write the script and the plan, and fetch every timeline history file now."""
        self.directory.mkdir(parents=True, exist_ok=True)
        self.directory.chmod(0o777)  # the server user leaves ".requested-*" notes here
        for name in history_files:
            self.archive.fetch(name, self.directory / name)
            self._hand_over(self.directory / name)
        (self.directory / PLAN_NAME).write_text("".join(f"{n}\n" for n in self.segments))
        (self.directory / PLAN_NAME).chmod(0o644)
        self.script.write_text(_SCRIPT.format(dir=shlex.quote(str(self.directory)), plan=PLAN_NAME))
        self.script.chmod(0o755)

    def start(self) -> None:
        """Begin fetching in the background."""
        self._threads = [
            threading.Thread(target=self._run, name="wal-stager", daemon=True),
            threading.Thread(target=self._write_ahead, name="wal-write-ahead", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        """Stop fetching; waiting ``restore_command`` calls answer "not here"."""
        self._stop.set()
        if self.directory.is_dir():
            (self.directory / ".stopped").touch()
        for thread in self._threads:
            thread.join(timeout=60)

    def check(self) -> None:
        """Raise the first fetch failure, if any."""
        if self.error is not None:
            raise self.error

    def _requested_index(self) -> int | None:
        """The index of the newest planned segment PostgreSQL asked for (None: none yet)."""
        wanted = {p.name.removeprefix(".requested-") for p in self.directory.glob(".requested-*")}
        indexes = [i for i, name in enumerate(self.segments) if name in wanted]
        return max(indexes, default=None)

    def _write_ahead(self) -> None:
        # The server keeps each restored segment (restore_command hard-links the staged
        # file) and fsyncs it before replaying it, one at a time. Writing the next few
        # out here lets that fsync find them clean, so the disk writes while the server
        # replays. Not before replay starts: the disk is busy unpacking then, and a
        # restore to an early target would pay for segments it never reads.
        written: set[str] = set()
        while not self._stop.wait(0.01):
            requested = self._requested_index()
            if requested is None:
                continue
            for name in self.segments[requested + 1 : requested + 1 + WRITE_AHEAD]:
                path = self.directory / name
                if name in written:
                    continue
                if not path.exists():
                    break
                try:
                    fd = os.open(path, os.O_RDONLY)
                    try:
                        os.fsync(fd)
                    finally:
                        os.close(fd)
                except OSError:
                    pass  # only an early write; the server's own fsync still follows
                written.add(name)

    def _ahead_limit(self) -> int:
        requested = self._requested_index()
        if requested is None:
            # The unpack leaves a core partly idle (tar and the decompressor take turns);
            # staging while it runs takes the decompression and hashing of WAL out of
            # replay, where the server would compete with it for the CPU.
            return self.ahead - 1
        return requested + self.ahead

    def _run(self) -> None:
        try:
            self._fetch_all()
        except BaseException as exc:  # noqa: BLE001 - a dead fetcher must not hang recovery
            self._fail("(stager)", OperationFailedError(f"staging WAL failed: {exc!r}"))
        finally:
            # Every planned segment is here or never will be: waiting requests may end.
            if self.directory.is_dir():
                (self.directory / ".stopped").touch()

    def _fetch_all(self) -> None:
        with ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="wal-fetch") as pool:
            pending: list[tuple[str, Future[None]]] = []
            for index, name in enumerate(self.segments):
                while not self._stop.is_set() and index > self._ahead_limit():
                    self._stop.wait(0.05)
                if self._stop.is_set():
                    break
                pending.append((name, pool.submit(self._fetch_one, name)))
                pending = self._reap(pending, block=len(pending) >= self.workers * 2)
                if self.error is not None:
                    break
            self._reap(pending, block=True)

    def _reap(
        self, pending: list[tuple[str, Future[None]]], *, block: bool
    ) -> list[tuple[str, Future[None]]]:
        left = []
        for name, future in pending:
            if not block and not future.done():
                left.append((name, future))
                continue
            try:
                future.result()
                self.fetched += 1
            except ChairsideError as exc:
                if name not in exc.message:
                    exc = type(exc)(f"archived WAL {name}: {exc.message}")
                self._fail(name, exc)
            except Exception as exc:  # noqa: BLE001 - any failure must end the chain loudly
                self._fail(name, OperationFailedError(f"fetching WAL {name} failed: {exc!r}"))
        return left

    def _fail(self, name: str, error: ChairsideError) -> None:
        if self.error is None:
            self.error = error
            self.failed_segment = name
        (self.directory / f".failed-{name}").touch()
        # Later segments will never come: let recovery stop instead of waiting for them.
        (self.directory / ".stopped").touch()
        self._stop.set()

    def _fetch_one(self, name: str) -> None:
        partial = self.directory / f".{name}.fetching"
        entry = self.archived.get(name)
        if entry is None:
            self.archive.fetch(name, partial)  # looks the segment up by name
        else:
            content = self.archive.content(entry)
            if entry.sha256 and hashlib.sha256(content).hexdigest() != entry.sha256:
                raise IntegrityError(
                    f"archived WAL {name} is damaged: its content does not match the checksum "
                    f"in its key {entry.key}"
                )
            partial.write_bytes(content)
        self._hand_over(partial)
        partial.replace(self.directory / name)

    def _hand_over(self, path: Path) -> None:
        # restore_command hard-links the segment into pg_wal, where the server renames,
        # fsyncs and later recycles it: the file must be the server user's.
        if self.owner is not None and not self.owner.is_current:
            assert self.owner.uid is not None and self.owner.gid is not None
            os.chown(path, self.owner.uid, self.owner.gid)
            path.chmod(0o600)
        else:
            path.chmod(0o644)
