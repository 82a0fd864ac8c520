"""Streaming WAL: ``pg_receivewal`` managed by Chairside, for an RPO of about a second.

``pg_receivewal`` receives WAL as it is written, through a replication slot (so the
server keeps WAL until it was received, even across a disconnect), into a spool
directory under ``$CHAIRSIDE_HOME/wal-stream/<slot>``. Each finished segment is pushed
into the repository through the same :class:`~chairside.ops.backup.walarchive.WalArchive`
as ``archive_command`` (same keys, so both can run at once: pushing is idempotent), then
removed from the spool; the segment being written stays as ``.partial``.

Synchronous mode adds ``--synchronous`` (flush and report every write at once) and names
the receiver in ``synchronous_standby_names``: a commit returns only once its WAL is on
the receiver's disk, so no committed transaction can be lost with the server. The price
is that commits wait while the receiver is down; a clean stop (Ctrl-C, SIGTERM) therefore
hands the setting back, and a crash deliberately leaves commits waiting.
"""

from __future__ import annotations

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
from chairside.errors import ComponentError
from chairside.ops.backup import access
from chairside.ops.backup.processes import die_with_parent
from chairside.ops.backup.source import SourceCluster, source_cluster
from chairside.ops.backup.walarchive import WalArchive

DEFAULT_SLOT = "chairside"
APPLICATION_NAME = "chairside_receivewal"
_FINISHED = re.compile(r"^([0-9A-F]{24}|[0-9A-F]{8}\.history)$")
_SLOT = re.compile(r"^[a-z0-9_]{1,63}$")


@dataclass
class StreamSummary:
    """What one streaming session did."""

    slot: str
    synchronous: bool
    started: datetime
    stopped: datetime | None = None
    archived: list[str] = field(default_factory=list)
    restarts: int = 0

    def to_dict(self) -> dict[str, object]:
        return {
            "slot": self.slot,
            "synchronous": self.synchronous,
            "started": self.started.isoformat(),
            "stopped": self.stopped.isoformat() if self.stopped else None,
            "archived": len(self.archived),
            "last_archived": self.archived[-1] if self.archived else None,
            "receiver_restarts": self.restarts,
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
        self.stop_event = threading.Event()
        self.process: subprocess.Popen[bytes] | None = None
        self._pushed: set[str] = set()

    @classmethod
    def from_settings(
        cls, settings: Settings, *, slot: str = DEFAULT_SLOT, synchronous: bool = False
    ) -> WalStreamer:
        return cls(
            source=source_cluster(settings),
            archive=access.wal_archive(settings),
            spool=settings.home / "wal-stream" / slot,
            slot=slot,
            synchronous=synchronous,
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
                if self.process is not None and self.process.poll() is not None:
                    # The server went away or restarted; the slot keeps our place.
                    summary.restarts += 1
                    self.stop_event.wait(1.0)
                    if not self.stop_event.is_set():
                        self._start_receiver()
                self.stop_event.wait(self.poll_seconds)
        finally:
            self._stop_receiver()
            summary.archived.extend(self.archive_finished())
            if self.synchronous:
                self._set_synchronous_standby("")
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
                segments.append(path)
        # pg_receivewal resumes after the newest segment it finds in the spool, so keep
        # that one as its bookmark and drop the rest (they are safe in the repository).
        for path in segments[:-1]:
            path.unlink(missing_ok=True)
            self._pushed.discard(path.name)
        return pushed

    # ---- pg_receivewal ---------------------------------------------------------------------

    def _receiver_argv(self, *extra: str) -> list[str]:
        conninfo = self.source.conninfo("replication") + f" application_name={APPLICATION_NAME}"
        return [
            self.source.tool("pg_receivewal"),
            "-d", conninfo,
            "-D", str(self.spool),
            "--slot", self.slot,
            "--no-password",
            *extra,
        ]  # fmt: skip

    def _create_slot(self) -> None:
        result = subprocess.run(
            self._receiver_argv("--create-slot", "--if-not-exists"),
            env=self.source.env(),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if result.returncode != 0:
            raise ComponentError(
                f"pg_receivewal could not create replication slot {self.slot}: "
                f"{result.stderr.strip()} (the server needs max_replication_slots > 0 and "
                "wal_level=replica)"
            )

    def _start_receiver(self) -> None:
        argv = self._receiver_argv(*(["--synchronous"] if self.synchronous else []))
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
