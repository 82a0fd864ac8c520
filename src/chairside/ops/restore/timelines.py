"""Which timeline a restore follows, and why.

Every in-place point-in-time restore starts a new timeline, so a repository can hold
several branches of history. A restore follows one of them:

- ``current``: the timeline the live cluster is on (asked over SQL, or read from
  ``pg_control`` when the embedded cluster is stopped);
- ``latest``: the newest timeline the archive knows (PostgreSQL's ``latest``);
- a number: that timeline.

Without a choice, ``current`` when the live cluster can be asked (and belongs to the
repository), else ``latest``. The plan prints which one and why.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import psycopg

from chairside.config import Settings
from chairside.errors import ChairsideError, InputError
from chairside.ops.backup.source import has_source, source_cluster
from chairside.ops.restore.reach import ArchiveView
from chairside.runtime.osuser import run_as

TimelineChoice = str | int | None
"""``"current"``, ``"latest"``, a timeline number, or None (the default rule)."""


@dataclass(frozen=True)
class LiveTimeline:
    """The live cluster's timeline and system identifier, as far as it could be asked."""

    timeline: int
    system_identifier: str
    how: str  # "asked the running server" / "read pg_control of the stopped cluster"


@dataclass(frozen=True)
class ChosenTimeline:
    """The timeline a restore follows, and the reason an operator is shown."""

    timeline: int
    reason: str

    def to_dict(self) -> dict[str, object]:
        return {"timeline": self.timeline, "reason": self.reason}


def parse_timeline_choice(raw: str | None) -> TimelineChoice:
    """``--target-timeline``: current, latest or a positive number; InputError otherwise."""
    if raw is None:
        return None
    text = raw.strip().lower()
    if text in {"current", "latest"}:
        return text
    if text.isdigit() and int(text) >= 1:
        return int(text)
    raise InputError(
        f"--target-timeline {raw!r} is invalid; use 'current' (the live cluster's), "
        "'latest' (the newest in the archive) or a timeline number such as 2",
        field="target_timeline",
    )


def live_timeline(settings: Settings) -> LiveTimeline | None:
    """The timeline of the cluster ``settings`` point at; None when it cannot be asked."""
    if not has_source(settings):
        return None
    try:
        source = source_cluster(settings)
        # Briefly: in a disaster the server is gone, and the restore must not wait for it.
        with psycopg.connect(
            source.conninfo(), password=source.password, autocommit=True, connect_timeout=2
        ) as conn:
            row = conn.execute(
                "SELECT (SELECT system_identifier FROM pg_control_system())::text, "
                "CASE WHEN pg_is_in_recovery() THEN (SELECT timeline_id FROM "
                "pg_control_checkpoint()) ELSE ('x' || substr(pg_walfile_name("
                "pg_current_wal_lsn()), 1, 8))::bit(32)::int END"
            ).fetchone()
        if row is not None:
            return LiveTimeline(int(str(row[1])), str(row[0]), "asked the running server")
    except (ChairsideError, psycopg.Error):
        pass
    if not settings.embedded:
        return None
    return _stopped_embedded_timeline(settings)


def choose_timeline(
    choice: TimelineChoice,
    *,
    view: ArchiveView,
    known: list[int],
    live: LiveTimeline | None,
    system_identifier: str,
) -> ChosenTimeline:
    """Resolve ``choice`` against the archive; InputError naming the known timelines."""
    available = ", ".join(map(str, known)) or "none"
    newest = max(known, default=1)
    usable_live = live if live is not None and live.system_identifier == system_identifier else None
    if isinstance(choice, int):
        if choice not in known:
            raise InputError(
                f"timeline {choice} is not in the archive; it knows timelines {available}",
                field="target_timeline",
            )
        return ChosenTimeline(choice, f"timeline {choice} was asked for (--target-timeline)")
    if choice == "latest":
        return ChosenTimeline(newest, f"the newest timeline in the archive ({available})")
    if choice == "current" and usable_live is None:
        why = (
            "the live cluster belongs to another system"
            if live is not None
            else "the live cluster cannot be asked"
        )
        raise InputError(
            f"--target-timeline current: {why}; use 'latest' or one of timelines {available}",
            field="target_timeline",
        )
    if usable_live is not None:
        reason = f"the live cluster is on timeline {usable_live.timeline} ({usable_live.how})"
        if usable_live.timeline not in known:
            # Its history file is not archived yet: PostgreSQL could not follow it.
            raise InputError(
                f"{reason}, but the archive does not know that timeline yet (its history file "
                f"is not archived; the archive knows {available}); run `chairside backup "
                "incremental` or pass --target-timeline latest|N",
                field="target_timeline",
            )
        return ChosenTimeline(usable_live.timeline, reason)
    reason = "the live cluster cannot be asked" if live is None else "the live cluster is another"
    return ChosenTimeline(newest, f"{reason}, so the newest timeline in the archive ({available})")


def _stopped_embedded_timeline(settings: Settings) -> LiveTimeline | None:
    from chairside.runtime.embedded import embedded_stack

    cluster = embedded_stack(settings).postgres
    if not cluster.exists:
        return None
    result = run_as(
        cluster.user, [cluster.binary("pg_controldata"), "-D", str(cluster.data_dir)], check=False
    )
    tli = re.search(r"Latest checkpoint's TimeLineID:\s+(\d+)", result.stdout)
    sysid = re.search(r"Database system identifier:\s+(\d+)", result.stdout)
    if result.returncode != 0 or not tli or not sysid:
        return None
    return LiveTimeline(int(tli.group(1)), sysid.group(1), "read pg_control of the stopped cluster")
