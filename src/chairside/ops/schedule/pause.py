"""Holding jobs back: ``schedule pause|resume``, and writing jobs during modes.

Two things keep a due job from starting:

- the whole schedule is paused (``chairside schedule pause``): ``$CHAIRSIDE_HOME/schedule/
  paused.json`` exists, read on every pass, so a pause reaches a running ``up`` at once;
- a job that writes application data (``Job.writes``: expiring holds, the weekly
  maintenance) while maintenance or read-only mode is on: those modes promise that
  nothing changes the data, and a scheduled job must keep that promise too.

A held job is not recorded as a run: it stays due, and runs once when the hold ends.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from chairside.config import Settings
from chairside.ops.deploy.modes import ModeSwitch
from chairside.ops.schedule.jobs import Job
from chairside.ops.timeline.store import current_actor, open_ops_store


@dataclass(frozen=True)
class PauseState:
    """Whether the schedule is paused, since when, by whom and why."""

    paused: bool
    since: str | None = None
    by: str | None = None
    reason: str | None = None

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def pause_file(settings: Settings) -> Path:
    return settings.home / "schedule" / "paused.json"


def read_pause(settings: Settings) -> PauseState:
    """The pause in force; a torn file counts as paused (the operator meant to pause)."""
    path = pause_file(settings)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return PauseState(paused=False)
    except (OSError, json.JSONDecodeError):
        return PauseState(paused=True, reason=f"{path} is unreadable")
    return PauseState(
        paused=True, since=data.get("since"), by=data.get("by"), reason=data.get("reason")
    )


def pause_schedule(settings: Settings, *, reason: str | None = None) -> PauseState:
    """Pause every job until :func:`resume_schedule`; recorded as ``schedule.paused``."""
    state = PauseState(
        paused=True,
        since=datetime.now(UTC).isoformat(timespec="seconds"),
        by=current_actor(),
        reason=reason,
    )
    path = pause_file(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state.to_dict(), indent=2) + "\n")
    tmp.replace(path)
    open_ops_store(settings).record(
        "schedule.paused",
        "the ops schedule is paused" + (f": {reason}" if reason else ""),
        details=state.to_dict(),
    )
    return state


def resume_schedule(settings: Settings) -> PauseState:
    """End a pause; due jobs run on the scheduler's next pass. Recorded as ``schedule.resumed``."""
    before = read_pause(settings)
    pause_file(settings).unlink(missing_ok=True)
    if before.paused:
        open_ops_store(settings).record(
            "schedule.resumed",
            "the ops schedule runs again",
            details={"paused_since": before.since, "paused_by": before.by},
        )
    return PauseState(paused=False)


def held_jobs(settings: Settings, jobs: Sequence[Job]) -> dict[str, str]:
    """The jobs that must not start now, each with the reason."""
    pause = read_pause(settings)
    if pause.paused:
        why = "the schedule is paused" + (f" ({pause.reason})" if pause.reason else "")
        return {job.name: why for job in jobs}
    modes = ModeSwitch(settings).current()
    if not (modes.maintenance or modes.read_only):
        return {}
    mode = "maintenance" if modes.maintenance else "read-only"
    return {
        job.name: f"{mode} mode is on and the job writes application data"
        for job in jobs
        if job.writes
    }
