"""Recovery targets: where a point-in-time restore stops replaying WAL.

A target is one of PostgreSQL's ``recovery_target_*`` kinds: a time, an LSN, a
transaction id, a named restore point, ``immediate`` (the backup's consistent point)
or ``latest`` (every archived WAL record, the default of ``restore full``). Parsing
happens here, once, so the CLI and the interactive menu reject the same bad input
with the same message.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from chairside.errors import InputError

_LSN = re.compile(r"^([0-9A-Fa-f]{1,8})/([0-9A-Fa-f]{1,8})$")
# Restore point names PostgreSQL accepts are at most 63 bytes; keep them printable.
_NAME = re.compile(r"^[\x21-\x7e][\x20-\x7e]{0,62}$")
# A little slack for clocks: a target a few seconds ahead is "now", not "the future".
_FUTURE_SLACK = timedelta(seconds=5)


class TargetKind(enum.StrEnum):
    LATEST = "latest"
    IMMEDIATE = "immediate"
    TIME = "time"
    LSN = "lsn"
    XID = "xid"
    NAME = "name"


@dataclass(frozen=True)
class RecoveryTarget:
    """Where recovery stops; ``inclusive`` keeps the target transaction itself."""

    kind: TargetKind
    time: datetime | None = None
    lsn: int | None = None
    xid: int | None = None
    name: str | None = None
    inclusive: bool = True

    def describe(self) -> str:
        """The target as an operator would say it."""
        if self.kind is TargetKind.TIME and self.time is not None:
            return f"time {self.time.isoformat()}"
        if self.kind is TargetKind.LSN and self.lsn is not None:
            return f"LSN {format_lsn(self.lsn)}"
        if self.kind is TargetKind.XID:
            return f"transaction {self.xid}"
        if self.kind is TargetKind.NAME:
            return f"restore point {self.name!r}"
        if self.kind is TargetKind.IMMEDIATE:
            return "the backup's consistent point (immediate)"
        return "the newest archived WAL (latest)"

    def postgres_settings(self) -> dict[str, str]:
        """The ``recovery_target_*`` settings PostgreSQL needs for this target."""
        settings: dict[str, str] = {}
        if self.kind is TargetKind.TIME and self.time is not None:
            settings["recovery_target_time"] = self.time.astimezone(UTC).isoformat(
                sep=" ", timespec="microseconds"
            )
        elif self.kind is TargetKind.LSN and self.lsn is not None:
            settings["recovery_target_lsn"] = format_lsn(self.lsn)
        elif self.kind is TargetKind.XID:
            settings["recovery_target_xid"] = str(self.xid)
        elif self.kind is TargetKind.NAME and self.name is not None:
            settings["recovery_target_name"] = self.name
        elif self.kind is TargetKind.IMMEDIATE:
            settings["recovery_target"] = "immediate"
        if self.kind in {TargetKind.TIME, TargetKind.LSN, TargetKind.XID}:
            settings["recovery_target_inclusive"] = "on" if self.inclusive else "off"
        return settings

    def to_dict(self) -> dict[str, object]:
        return {
            "kind": self.kind.value,
            "time": self.time.isoformat() if self.time else None,
            "lsn": format_lsn(self.lsn) if self.lsn is not None else None,
            "xid": self.xid,
            "name": self.name,
            "inclusive": self.inclusive,
        }


LATEST = RecoveryTarget(TargetKind.LATEST)
IMMEDIATE = RecoveryTarget(TargetKind.IMMEDIATE)


def parse_time(raw: str, *, now: datetime | None = None) -> datetime:
    """An ISO 8601 time (UTC when no offset is given); InputError if malformed or future."""
    text = raw.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InputError(
            f"target time {raw!r} is not a time; use ISO 8601 such as "
            "'2026-11-23 04:42:00+00:00' or '2026-11-23T04:42:00Z' (UTC when no offset)",
            field="target_time",
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    current = now or datetime.now(UTC)
    if moment > current + _FUTURE_SLACK:
        raise InputError(
            f"target time {moment.isoformat()} is in the future (now is "
            f"{current.isoformat(timespec='seconds')}); a restore can only go back in time",
            field="target_time",
        )
    return moment.astimezone(UTC)


def parse_lsn(raw: str) -> int:
    """A WAL location written as PostgreSQL prints it (``0/16B3748``)."""
    match = _LSN.match(raw.strip())
    if not match:
        raise InputError(
            f"target LSN {raw!r} is malformed; write it as PostgreSQL does, e.g. 0/16B3748",
            field="target_lsn",
        )
    return (int(match.group(1), 16) << 32) | int(match.group(2), 16)


def format_lsn(value: int) -> str:
    """An LSN as PostgreSQL prints it."""
    return f"{value >> 32:X}/{value & 0xFFFFFFFF:X}"


def parse_xid(raw: str) -> int:
    """A transaction id: a positive integer (normal xids start at 3)."""
    text = raw.strip()
    if not text.isdigit() or not 3 <= int(text) < 2**32:
        raise InputError(
            f"target transaction id {raw!r} is invalid; use a number from 3 to {2**32 - 1}",
            field="target_xid",
        )
    return int(text)


def parse_name(raw: str) -> str:
    """A restore point name as created with ``pg_create_restore_point()``."""
    if not _NAME.match(raw):
        raise InputError(
            f"restore point name {raw!r} is invalid; use 1 to 63 printable ASCII characters",
            field="target_name",
        )
    return raw


def build_target(
    *,
    time: str | None = None,
    lsn: str | None = None,
    xid: str | None = None,
    name: str | None = None,
    immediate: bool = False,
    exclusive: bool = False,
    now: datetime | None = None,
) -> RecoveryTarget:
    """The single target the options describe; InputError when none or several are given."""
    given = [
        label
        for label, value in (
            ("--target-time", time),
            ("--target-lsn", lsn),
            ("--target-xid", xid),
            ("--target-name", name),
            ("--target-immediate", immediate or None),
        )
        if value is not None
    ]
    if len(given) != 1:
        raise InputError(
            "give exactly one recovery target (--target-time, --target-lsn, --target-xid, "
            f"--target-name or --target-immediate); got {', '.join(given) or 'none'}",
            field="target",
        )
    inclusive = not exclusive
    if time is not None:
        return RecoveryTarget(TargetKind.TIME, time=parse_time(time, now=now), inclusive=inclusive)
    if lsn is not None:
        return RecoveryTarget(TargetKind.LSN, lsn=parse_lsn(lsn), inclusive=inclusive)
    if xid is not None:
        return RecoveryTarget(TargetKind.XID, xid=parse_xid(xid), inclusive=inclusive)
    if name is not None:
        return RecoveryTarget(TargetKind.NAME, name=parse_name(name))
    return IMMEDIATE
