"""What the server says about its WAL receivers and slots, and how to judge it.

One reading (``pg_stat_replication``, ``pg_replication_slots``,
``synchronous_standby_names``, the current LSN) serves ``backup status`` (what the
receiver has counts as shipped), the health probe's ``replication`` check (a missing
synchronous receiver, a slot holding back WAL) and the synchronous-mode policy
(:mod:`.sync_policy`). The reading takes a ``query`` function so that a psycopg
connection and an SQLAlchemy engine can both feed it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from chairside.checks import CheckResult, CheckStatus, worst
from chairside.config import Settings

Query = Callable[[str], Sequence[Sequence[Any]]]

RECEIVER_NAME = "chairside_receivewal"  # pg_receivewal's application_name (wal stream)

_RECEIVERS_SQL = (
    "SELECT application_name, state, sync_state, flush_lsn::text,"
    " (pg_current_wal_lsn() - flush_lsn)::bigint, write_lsn::text FROM pg_stat_replication"
)
_SLOTS_SQL = (
    "SELECT slot_name, active, restart_lsn::text, wal_status,"
    " (pg_current_wal_lsn() - restart_lsn)::bigint FROM pg_replication_slots"
)
_SERVER_SQL = (
    "SELECT pg_current_wal_lsn()::text, current_setting('synchronous_standby_names'),"
    " current_setting('synchronous_commit')"
)


@dataclass(frozen=True)
class Receiver:
    """One WAL receiver connected to the server."""

    name: str
    state: str
    sync_state: str
    flush_lsn: str | None
    behind_bytes: int | None
    # Written to the receiver's spool, fsynced or not: an asynchronous pg_receivewal
    # fsyncs only at segment ends, and its spool is on another machine (docs/backup.md).
    write_lsn: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "application_name": self.name,
            "state": self.state,
            "sync_state": self.sync_state,
            "flush_lsn": self.flush_lsn,
            "write_lsn": self.write_lsn,
            "behind_bytes": self.behind_bytes,
        }


@dataclass(frozen=True)
class Slot:
    """One replication slot and the WAL it keeps on the server."""

    name: str
    active: bool
    restart_lsn: str | None
    wal_status: str | None
    retained_bytes: int | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "slot_name": self.name,
            "active": self.active,
            "restart_lsn": self.restart_lsn,
            "wal_status": self.wal_status,
            "retained_bytes": self.retained_bytes,
        }


@dataclass(frozen=True)
class ReplicationFacts:
    """The server's receivers, slots and synchronous settings at one moment."""

    current_lsn: str
    synchronous_standby_names: str
    synchronous_commit: str
    receivers: list[Receiver] = field(default_factory=list)
    slots: list[Slot] = field(default_factory=list)

    def receiver(self, name: str = RECEIVER_NAME) -> Receiver | None:
        """Chairside's receiver (``wal stream``), when it is connected and streaming."""
        return next((r for r in self.receivers if r.name == name and r.state == "streaming"), None)

    @property
    def synchronous_receiver(self) -> Receiver | None:
        return next((r for r in self.receivers if r.sync_state in ("sync", "quorum")), None)

    @property
    def synchronous_named(self) -> bool:
        return bool(self.synchronous_standby_names.strip())

    def to_dict(self) -> dict[str, Any]:
        return {
            "current_lsn": self.current_lsn,
            "synchronous_standby_names": self.synchronous_standby_names,
            "synchronous_commit": self.synchronous_commit,
            "receivers": [r.to_dict() for r in self.receivers],
            "slots": [s.to_dict() for s in self.slots],
        }


def read_replication(query: Query) -> ReplicationFacts | None:
    """Read the facts; None on a server in recovery (a standby has no current LSN)."""
    recovery = query("SELECT pg_is_in_recovery()")
    if recovery and recovery[0][0]:
        return None
    server = query(_SERVER_SQL)[0]
    receivers = [
        Receiver(str(r[0]), str(r[1]), str(r[2]), _text(r[3]), _int(r[4]), _text(r[5]))
        for r in query(_RECEIVERS_SQL)
    ]
    slots = [
        Slot(str(r[0]), bool(r[1]), _text(r[2]), _text(r[3]), _int(r[4])) for r in query(_SLOTS_SQL)
    ]
    return ReplicationFacts(str(server[0]), str(server[1]), str(server[2]), receivers, slots)


def check_replication(
    settings: Settings, facts: ReplicationFacts | None, *, fallback_since: float | None = None
) -> CheckResult:
    """The ``replication`` check: the receiver the WAL mode needs, and slots holding WAL.

    Sync mode without a synchronous receiver is critical while commits wait (always in
    strict mode; in fallback mode until the policy clears the setting) and a warning
    once writes go on without it. ``fallback_since`` is when the policy cleared it.
    """
    if facts is None:
        return CheckResult("replication", CheckStatus.OK, "server in recovery: no receivers")
    details: dict[str, Any] = {
        **facts.to_dict(),
        "mode": settings.wal_mode,
        "sync_policy": settings.wal_sync_policy,
        "writes_blocked": False,
    }
    findings: list[tuple[CheckStatus, str]] = []
    if settings.wal_mode == "sync":
        findings.append(_sync_finding(settings, facts, details, fallback_since))
    elif settings.wal_mode == "stream" and facts.receiver() is None:
        findings.append(
            (
                CheckStatus.WARNING,
                f"WAL receiver {RECEIVER_NAME} is not connected: WAL reaches the repository "
                "only through archive_command (RPO up to archive_timeout)",
            )
        )
    elif facts.synchronous_named and facts.synchronous_receiver is None:
        details["writes_blocked"] = facts.synchronous_commit not in ("off", "local")
        findings.append(
            (
                CheckStatus.CRITICAL,
                f"synchronous_standby_names = '{facts.synchronous_standby_names}' but no "
                "synchronous receiver is connected: commits wait",
            )
        )
    findings.extend(_slot_findings(settings, facts))
    if not findings:
        receiver = facts.receiver()
        summary = (
            f"receiver {receiver.name} {receiver.sync_state}" if receiver else "no receiver needed"
        )
        return CheckResult("replication", CheckStatus.OK, summary, details=details)
    worst_status = worst(s for s, _ in findings)
    return CheckResult(
        "replication", worst_status, "; ".join(text for _, text in findings), details=details
    )


def _sync_finding(
    settings: Settings,
    facts: ReplicationFacts,
    details: dict[str, Any],
    fallback_since: float | None,
) -> tuple[CheckStatus, str]:
    sync = facts.synchronous_receiver
    if sync is not None:
        return CheckStatus.OK, f"synchronous receiver {sync.name} connected"
    if facts.synchronous_named:
        details["writes_blocked"] = True
        if settings.wal_sync_policy == "strict":
            return (
                CheckStatus.CRITICAL,
                f"no synchronous WAL receiver ({facts.synchronous_standby_names}) is "
                "connected: commits wait until it is back (policy strict)",
            )
        return (
            CheckStatus.CRITICAL,
            "no synchronous WAL receiver is connected: commits wait; the fallback policy "
            f"lets them go on after {settings.wal_sync_fallback_seconds:g} s",
        )
    if fallback_since is None:
        return (
            CheckStatus.WARNING,
            "sync mode, but no synchronous receiver is named or connected: commits do not "
            "wait, so the RPO grows (start `chairside wal stream --synchronous`)",
        )
    details["fallback_active"] = True
    return (
        CheckStatus.WARNING,
        f"sync mode fell back to asynchronous commits {_ago(fallback_since)} ago: no "
        "synchronous receiver, so the RPO grows until it is back",
    )


def _slot_findings(settings: Settings, facts: ReplicationFacts) -> list[tuple[CheckStatus, str]]:
    limit = settings.wal_slot_warning_mb * 1024 * 1024
    found = []
    for slot in facts.slots:
        if slot.wal_status == "lost":
            found.append(
                (
                    CheckStatus.CRITICAL,
                    f"replication slot {slot.name} lost the WAL it needed; drop it "
                    f"(SELECT pg_drop_replication_slot('{slot.name}'))",
                )
            )
        elif slot.retained_bytes is not None and slot.retained_bytes > limit:
            state = "active" if slot.active else "inactive"
            found.append(
                (
                    CheckStatus.WARNING,
                    f"replication slot {slot.name} ({state}) holds back "
                    f"{slot.retained_bytes / 1024**2:.0f} MB of WAL on the server (warning "
                    f"above {settings.wal_slot_warning_mb} MB); start its receiver or drop it",
                )
            )
    return found


def _ago(at: float) -> str:
    import time

    return f"{max(0.0, time.time() - at):.0f} s"


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def _int(value: object) -> int | None:
    return None if value is None else int(str(value))
