"""Streaming WAL: ``pg_receivewal`` managed by Chairside, for an RPO of about a second.

``pg_receivewal`` receives WAL as it is written, through a replication slot (so the
server keeps WAL until it was received, even across a disconnect), into a spool
directory under ``$CHAIRSIDE_HOME/wal-stream/<slot>``. Each finished segment is pushed
into the repository through the same :class:`~chairside.ops.backup.walarchive.WalArchive`
as ``archive_command`` (same keys, so both can run at once: pushing is idempotent), then
removed from the spool; the segment being written stays as ``.partial``.

That ``.partial`` file holds the newest commits, so it is history too: every
``partial_seconds`` (when it changed) and at once when the receiver loses the server,
it is pushed as ``NAME.partial`` (:meth:`WalArchive.push_partial`), and a restore to
"latest" replays it where the finished segment is missing. With the receiver on another
machine than the database (the documented set-up), its spool and these pushes are what
survives the database machine.

The slot is created reserving WAL at once (``pg_create_physical_replication_slot(...,
true)``), so its position is never NULL, and a clean stop drops it: a slot nobody reads
would keep WAL on the server forever.

Synchronous mode adds ``--synchronous`` (flush and report every write at once) and names
the receiver in ``synchronous_standby_names``: a commit returns only once its WAL is on
the receiver's disk, so no committed transaction can be lost with the server. The price
is that commits wait while the receiver is down; a clean stop (Ctrl-C, SIGTERM) therefore
hands the setting back. A crashed receiver leaves commits waiting until the declared
policy acts (:mod:`chairside.ops.backup.sync_policy`: strict waits, fallback clears the
setting after a bounded time and the receiver names itself again when it is back).
"""

from __future__ import annotations

import logging
import re
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

from chairside.config import Settings
from chairside.errors import ChairsideError, ComponentError
from chairside.ops.backup import access
from chairside.ops.backup.processes import die_with_parent
from chairside.ops.backup.source import SourceCluster, source_cluster
from chairside.ops.backup.walarchive import WalArchive

DEFAULT_SLOT = "chairside"
APPLICATION_NAME = "chairside_receivewal"
_FINISHED = re.compile(r"^([0-9A-F]{24}|[0-9A-F]{8}\.history)$")
_SLOT = re.compile(r"^[a-z0-9_]{1,63}$")
_PARTIAL = re.compile(r"^[0-9A-F]{24}\.partial$")

log = logging.getLogger("chairside.wal.stream")


@dataclass
class StreamSummary:
    """What one streaming session did."""

    slot: str
    synchronous: bool
    started: datetime
    stopped: datetime | None = None
    archived: list[str] = field(default_factory=list)
    restarts: int = 0
    partial_pushes: int = 0
    last_partial: str | None = None
    slot_dropped: bool = False

    def to_dict(self) -> dict[str, object]:
        return {
            "slot": self.slot,
            "synchronous": self.synchronous,
            "started": self.started.isoformat(),
            "stopped": self.stopped.isoformat() if self.stopped else None,
            "archived": len(self.archived),
            "last_archived": self.archived[-1] if self.archived else None,
            "receiver_restarts": self.restarts,
            "partial_pushes": self.partial_pushes,
            "last_partial": self.last_partial,
            "slot_dropped": self.slot_dropped,
        }

    def describe(self) -> str:
        return (
            f"streamed through slot {self.slot}: {len(self.archived)} files archived, "
            f"receiver restarted {self.restarts} times"
        )


class WalStreamer:
    """Runs pg_receivewal and archives what it receives until told to stop."""

    def __init__(
        self,
        *,
        source: SourceCluster,
        archive: WalArchive,
        spool: Path,
        slot: str = DEFAULT_SLOT,
        synchronous: bool = False,
        poll_seconds: float = 0.2,
        partial_seconds: float = 1.0,
        keep_slot: bool = False,
    ) -> None:
        if not _SLOT.match(slot):
            raise ComponentError(
                f"slot name {slot!r} is invalid; use 1-63 lower-case letters, digits or '_'"
            )
        self.source = source
        self.archive = archive
        self.spool = spool
        self.slot = slot
        self.synchronous = synchronous
        self.poll_seconds = poll_seconds
        self.partial_seconds = partial_seconds
        self.keep_slot = keep_slot
        self.stop_event = threading.Event()
        self.process: subprocess.Popen[bytes] | None = None
        self._pushed: set[str] = set()
        self._partial_seen: tuple[str, int, int] | None = None  # name, mtime_ns, size
        self._partial_due = 0.0
        self.last_partial_push: float | None = None  # wall time of the newest partial push
        # Forced pushes after the receiver lost its server (what it flushed last is in them).
        self.pushed_after_loss = 0

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        slot: str = DEFAULT_SLOT,
        synchronous: bool = False,
        keep_slot: bool = False,
    ) -> WalStreamer:
        return cls(
            source=source_cluster(settings),
            archive=access.wal_archive(settings),
            spool=settings.home / "wal-stream" / slot,
            slot=slot,
            synchronous=synchronous,
            partial_seconds=settings.wal_partial_push_seconds,
            keep_slot=keep_slot,
        )

    # ---- the loop ------------------------------------------------------------------------

    def run(self) -> StreamSummary:
        """Stream until :meth:`stop` (or SIGTERM/SIGINT in the main thread)."""
        summary = StreamSummary(self.slot, self.synchronous, datetime.now(UTC))
        self.spool.mkdir(parents=True, exist_ok=True)
        self._create_slot()
        restore_signals = self._install_signal_handlers()
        try:
            self._start_receiver()
            if self.synchronous:
                # After the receiver starts: naming a standby that is not there yet would
                # hold every commit until it connects.
                self._set_synchronous_standby(APPLICATION_NAME)
            while not self.stop_event.is_set():
                summary.archived.extend(self.archive_finished())
                self._push_partial(summary, force=False)
                if self.process is not None and self.process.poll() is not None:
                    # The server went away or restarted; the slot keeps our place. What
                    # the receiver flushed last is the newest history there is: push it now.
                    summary.restarts += 1
                    self._push_partial(summary, force=True)
                    self.pushed_after_loss += 1
                    self.stop_event.wait(1.0)
                    if not self.stop_event.is_set():
                        self._start_receiver()
                        if self.synchronous:
                            self._reclaim_synchronous_standby()
                self.stop_event.wait(self.poll_seconds)
        finally:
            self._stop_receiver()
            summary.archived.extend(self.archive_finished())
            self._push_partial(summary, force=True)
            if self.synchronous:
                self._quietly("reset synchronous_standby_names", self._set_synchronous_standby, "")
            if not self.keep_slot:
                summary.slot_dropped = self._quietly("drop the slot", self._drop_slot)
            restore_signals()
            summary.stopped = datetime.now(UTC)
        return summary

    def stop(self) -> None:
        """Ask :meth:`run` to finish (it archives what is complete and returns)."""
        self.stop_event.set()

    def archive_finished(self) -> list[str]:
        """Push every finished file in the spool not pushed yet; returns their names."""
        pushed = []
        segments = []
        for path in sorted(self.spool.iterdir()):
            if not _FINISHED.match(path.name):
                continue
            if path.name not in self._pushed:
                self.archive.push(path)
                self._pushed.add(path.name)
                pushed.append(path.name)
                if not path.name.endswith(".history"):
                    # The finished segment replaces the partial versions pushed before.
                    self.archive.drop_partials(path.name)
            if not path.name.endswith(".history"):
                segments.append(path)
        # pg_receivewal resumes after the newest segment it finds in the spool, so keep
        # that one as its bookmark and drop the rest (they are safe in the repository).
        for path in segments[:-1]:
            path.unlink(missing_ok=True)
            self._pushed.discard(path.name)
        return pushed

    def _push_partial(self, summary: StreamSummary, *, force: bool) -> None:
        """Push the spool's ``.partial`` when it changed (every ``partial_seconds``)."""
        now = time.monotonic()
        if not force and now < self._partial_due:
            return
        self._partial_due = now + self.partial_seconds
        partials = sorted(p for p in self.spool.iterdir() if _PARTIAL.match(p.name))
        if not partials:
            return
        path = partials[-1]
        try:
            info = path.stat()
        except FileNotFoundError:
            return  # finished and renamed meanwhile: the next round pushes the segment
        seen = (path.name, info.st_mtime_ns, info.st_size)
        if seen == self._partial_seen and not force:
            # A write inside the same mtime tick can hide here; the forced push (when the
            # server goes away, and at the end) compares content instead.
            return
        segment = path.name.removesuffix(".partial")
        if segment in self._pushed:
            return
        try:
            result = self.archive.push_partial(path)
        except ChairsideError as exc:
            # The finished segment still goes through archive_finished; retry next round.
            log.warning("wal stream: could not push %s: %s", path.name, exc.message)
            return
        self._partial_seen = seen
        if result.stored:
            self.last_partial_push = time.time()
            summary.partial_pushes += 1
            summary.last_partial = path.name

    def _quietly(self, what: str, action: Callable[..., None], *args: str) -> bool:
        """Clean-up at the end must not hide why the loop ended (the server may be gone)."""
        try:
            action(*args)
        except (ChairsideError, OSError, subprocess.SubprocessError) as exc:
            log.warning("wal stream: could not %s: %s", what, exc)
            return False
        except Exception as exc:  # noqa: BLE001 - psycopg errors when the server is gone
            log.warning("wal stream: could not %s: %s", what, exc)
            return False
        return True

    # ---- pg_receivewal ---------------------------------------------------------------------

    def _receiver_argv(self, *extra: str) -> list[str]:
        conninfo = self.source.conninfo("replication") + f" application_name={APPLICATION_NAME}"
        return [
            self.source.tool("pg_receivewal"),
            "-d", conninfo,
            "-D", str(self.spool),
            "--slot", self.slot,
            "--no-password",
            # Exit when the server goes away (instead of retrying by itself), so the loop
            # pushes the partial segment at once and starts it again.
            "--no-loop",
            *extra,
        ]  # fmt: skip

    def _create_slot(self) -> None:
        # Created reserving WAL now: a slot made by `pg_receivewal --create-slot` has no
        # position until the receiver first streams (NULL after a crash before that).
        try:
            with self.source.connect() as conn:
                conn.execute(
                    "SELECT pg_create_physical_replication_slot(%s, true) WHERE NOT EXISTS"
                    " (SELECT 1 FROM pg_replication_slots WHERE slot_name = %s)",
                    (self.slot, self.slot),
                )
        except ChairsideError:
            raise
        except Exception as exc:  # noqa: BLE001 - psycopg's error names the setting
            raise ComponentError(
                f"could not create replication slot {self.slot}: {str(exc).strip()} (the "
                "server needs max_replication_slots > 0 and wal_level=replica)"
            ) from None

    def _drop_slot(self) -> None:
        # The walsender of the receiver just stopped may hold the slot for a moment.
        deadline = time.monotonic() + 5
        with self.source.connect() as conn:
            while True:
                row = conn.execute(
                    "SELECT active FROM pg_replication_slots WHERE slot_name = %s", (self.slot,)
                ).fetchone()
                if row is None:
                    return
                if not row[0]:
                    conn.execute("SELECT pg_drop_replication_slot(%s)", (self.slot,))
                    return
                if time.monotonic() > deadline:
                    raise ComponentError(f"replication slot {self.slot} is still in use")
                time.sleep(0.1)

    def _start_receiver(self) -> None:
        # Status every second (not the default 10 s): the server's view of what the
        # receiver holds is what `backup status` counts as shipped.
        extra = ["--synchronous"] if self.synchronous else ["--status-interval", "1"]
        argv = self._receiver_argv(*extra)
        log = (self.spool.parent / f"{self.slot}.log").open("ab")
        # The receiver dies with us (even on SIGKILL); the slot keeps our place.
        self.process = subprocess.Popen(
            argv,
            env=self.source.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent,
        )
        log.close()

    def _stop_receiver(self) -> None:
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)  # pg_receivewal flushes and exits cleanly
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)

    def _set_synchronous_standby(self, name: str) -> None:
        """Name (or un-name) the receiver as the synchronous standby.

        ``synchronous_commit`` is forced on with it: with it off, commits would not wait
        for the receiver and the no-loss promise would be false.
        """
        with self.source.connect() as conn:
            if name:
                conn.execute(f"ALTER SYSTEM SET synchronous_standby_names = '{name}'".encode())
                conn.execute("ALTER SYSTEM SET synchronous_commit = 'on'")
            else:
                conn.execute("ALTER SYSTEM RESET synchronous_standby_names")
                conn.execute("ALTER SYSTEM RESET synchronous_commit")
            conn.execute("SELECT pg_reload_conf()")
        time.sleep(0.2)  # the postmaster applies a reload asynchronously

    def _reclaim_synchronous_standby(self) -> None:
        """Name the receiver again if a fallback cleared it while the server was away."""
        try:
            with self.source.connect() as conn:
                row = conn.execute("SHOW synchronous_standby_names").fetchone()
        except ChairsideError:
            return  # still down; the next restart tries again
        if row is not None and not str(row[0]).strip():
            self._quietly("name the receiver", self._set_synchronous_standby, APPLICATION_NAME)

    def _install_signal_handlers(self) -> Callable[[], None]:
        if threading.current_thread() is not threading.main_thread():
            return lambda: None
        previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}

        def handler(_signum: int, _frame: FrameType | None) -> None:
            self.stop()

        for sig in previous:
            signal.signal(sig, handler)

        def restore() -> None:
            for sig, old in previous.items():
                signal.signal(sig, old)

        return restore
