"""The scheduler: the job table, the ops store's record of runs, and a leader lock.

``run_once`` is one pass (what ``schedule run --once`` and a cron line do): take the
leader lock, read the last runs back, run what is due, let go. ``run_forever`` is the
long-running loop: keep or regain leadership, start due jobs (each job in its own thread,
never two runs of one job at a time, so a monthly drill does not hold up the health
check; jobs sharing a ``group`` wait for each other), and sleep until the next due time
or a minute, whichever comes first.

Due jobs are decided only after the lock is taken, from the store: a scheduler that
wins the lock just after another finished sees that run and does not repeat it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from chairside.config import Settings
from chairside.ops.schedule.cadence import is_due, next_due
from chairside.ops.schedule.jobs import Job
from chairside.ops.schedule.leader import LeaderLock
from chairside.ops.schedule.pause import held_jobs
from chairside.ops.schedule.runner import Clock, JobRun, run_job, utc_now
from chairside.ops.timeline.store import OpsEvent, OpsStore

# Longest sleep of the loop: it re-checks leadership (and the store, which a cron line or
# an operator may have written to) at least this often.
MAX_SLEEP_SECONDS = 60.0
# While a due job is held (a pause, a mode), look again this often: it runs soon after
# the hold ends rather than up to a minute later.
HOLD_POLL_SECONDS = 5.0
# How many recent schedule events are read to find each job's last run.
HISTORY_WINDOW = 500


@dataclass(frozen=True)
class LastRun:
    """A job's newest recorded run."""

    started_at: datetime
    status: str
    exit_code: int | None
    duration_seconds: float | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "started_at": self.started_at.isoformat(),
            "status": self.status,
            "exit_code": self.exit_code,
            "duration_seconds": self.duration_seconds,
        }


@dataclass(frozen=True)
class JobState:
    """A job with its last run and when it is due next."""

    job: Job
    last_run: LastRun | None
    due: bool
    next_due: datetime
    held: str | None = None  # why a due job may not start now (pause, mode)

    def to_dict(self) -> dict[str, Any]:
        return {
            "held": self.held,
            "writes": self.job.writes,
            "name": self.job.name,
            "cadence": self.job.cadence,
            "command": list(self.job.argv),
            "timeout_seconds": self.job.timeout_seconds,
            "description": self.job.description,
            "last_run": self.last_run.to_dict() if self.last_run else None,
            "due": self.due,
            "next_due": self.next_due.isoformat(),
        }


@dataclass
class PassResult:
    """What one pass did: whether it led, what was due, and each run."""

    leader: bool
    dry_run: bool
    due: list[str] = field(default_factory=list)
    runs: list[JobRun] = field(default_factory=list)
    lock: str = ""
    reason: str | None = None
    held: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.leader and all(run.ok for run in self.runs)

    def to_dict(self) -> dict[str, Any]:
        return {
            "leader": self.leader,
            "lock": self.lock,
            "reason": self.reason,
            "dry_run": self.dry_run,
            "due": self.due,
            "held": self.held,
            "runs": [run.to_dict() for run in self.runs],
        }


STARTED_KIND = "schedule.started"


def schedule_start(store: OpsStore) -> datetime | None:
    """When the schedule first ran in-process on this store (`chairside up`), if it did."""
    events = store.recent(kind_prefix=STARTED_KIND, limit=1)
    return events[0].at if events else None


def start_schedule(store: OpsStore, *, now: datetime) -> datetime:
    """The schedule's start, recorded the first time: jobs never run wait for a slot after it."""
    known = schedule_start(store)
    if known is not None:
        return known
    store.record(
        STARTED_KIND,
        "the ops schedule started in-process; jobs wait for their first slot",
        details={"starts_at": now.isoformat()},
    )
    return now


def last_runs(store: OpsStore, jobs: Sequence[Job]) -> dict[str, LastRun]:
    """Each job's newest run, read back from its ``schedule.<job>`` events."""
    kinds = {job.event_kind: job.name for job in jobs}
    found: dict[str, LastRun] = {}
    for event in store.recent(kind_prefix="schedule.", limit=HISTORY_WINDOW):
        name = kinds.get(event.kind)
        if name is None or name in found:
            continue
        found[name] = _last_run(event)
    missing = [job for job in jobs if job.name not in found]
    for job in missing:
        # Rare jobs (the monthly drill) may sit behind hundreds of frequent runs.
        newest = [
            e
            for e in store.recent(kind_prefix=job.event_kind, limit=50)
            if e.kind == job.event_kind
        ]
        if newest:
            found[job.name] = _last_run(newest[0])
    return found


def _last_run(event: OpsEvent) -> LastRun:
    raw = event.details.get("started_at")
    started = datetime.fromisoformat(raw) if isinstance(raw, str) else event.at
    duration = event.details.get("duration_seconds")
    exit_code = event.details.get("exit_code")
    return LastRun(
        started_at=started,
        status=event.status,
        exit_code=exit_code if isinstance(exit_code, int) else None,
        duration_seconds=float(duration) if isinstance(duration, int | float) else None,
    )


class Scheduler:
    """Runs a job table under a leader lock, recording every run in the ops store."""

    def __init__(
        self,
        jobs: Sequence[Job],
        *,
        settings: Settings,
        store: OpsStore,
        lock: LeaderLock,
        clock: Clock = utc_now,
        starts_at: datetime | None = None,
    ) -> None:
        """``starts_at``: a job that never ran counts as started then, so it waits for its
        first slot after it (the schedule inside `chairside up`); None: it is due at once."""
        self.jobs = tuple(jobs)
        self.settings = settings
        self.store = store
        self.lock = lock
        self.clock = clock
        self.starts_at = starts_at

    def states(self, now: datetime | None = None) -> list[JobState]:
        """Every job with its last run, whether it is due, and its next due time."""
        at = now or self.clock()
        runs = last_runs(self.store, self.jobs)
        held = held_jobs(self.settings, self.jobs)
        states = []
        for job in self.jobs:
            last = runs.get(job.name)
            started = last.started_at if last else self.starts_at
            states.append(
                JobState(
                    job=job,
                    last_run=last,
                    due=is_due(job, last_started=started, now=at),
                    next_due=next_due(job, last_started=started, now=at),
                    held=held.get(job.name),
                )
            )
        return states

    def due_jobs(self, now: datetime | None = None) -> list[Job]:
        """The jobs due at ``now`` and not held, in table order."""
        return [state.job for state in self.states(now) if state.due and not state.held]

    def run_once(
        self, *, only: Sequence[Job] | None = None, dry_run: bool = False, force: bool = False
    ) -> PassResult:
        """One pass as leader: run every due job (or only these; ``force``: due or not)."""
        result = PassResult(leader=False, dry_run=dry_run, lock=self.lock.describe())
        if not self.lock.try_acquire():
            result.reason = getattr(self.lock, "last_error", None) or "not leader"
            return result
        try:
            result.leader = True
            states = self.states()
            due = [state.job for state in states if state.due and not state.held]
            wanted = list(only) if only is not None else list(self.jobs)
            chosen = [job for job in wanted if force or job in due]
            result.held = {
                state.job.name: state.held
                for state in states
                if state.due and state.held and state.job in wanted and state.job not in chosen
            }
            result.due = [job.name for job in chosen]
            if dry_run:
                return result
            for job in chosen:
                result.runs.append(
                    run_job(job, settings=self.settings, store=self.store, clock=self.clock)
                )
            return result
        finally:
            self.lock.release()

    def run_forever(
        self,
        stop: threading.Event,
        *,
        retry_seconds: float = 30.0,
        on_event: Callable[[str], None] = lambda message: None,
    ) -> None:
        """Lead and run due jobs until ``stop`` is set; a follower retries in ``retry_seconds``."""
        running: dict[str, threading.Thread] = {}
        leading = waiting = False
        told_held: dict[str, str] = {}
        try:
            while not stop.is_set():
                if not self.lock.try_acquire():
                    if leading or not waiting:
                        reason = getattr(self.lock, "last_error", None) or "lock held"
                        on_event(f"not leader ({reason}); retrying every {retry_seconds:g}s")
                    leading, waiting = False, True
                    stop.wait(retry_seconds)
                    continue
                if not leading:
                    on_event(f"leading ({self.lock.describe()})")
                    leading = True
                for name, thread in list(running.items()):
                    if not thread.is_alive():
                        del running[name]
                now = self.clock()
                states = self.states(now)
                held = {s.job.name: s.held for s in states if s.due and s.held}
                for name, why in held.items():
                    if told_held.get(name) != why:
                        on_event(f"holding {name}: {why}")
                told_held = held
                for job in [s.job for s in states if s.due and not s.held]:
                    busy_groups = {j.group for j in self.jobs if j.name in running and j.group}
                    if job.name in running or job.group in busy_groups:
                        continue
                    on_event(f"starting {job.name}")
                    thread = threading.Thread(
                        target=run_job,
                        kwargs={
                            "job": job,
                            "settings": self.settings,
                            "store": self.store,
                            "clock": self.clock,
                            "stop": stop,
                        },
                        name=f"schedule-{job.name}",
                        daemon=True,
                    )
                    running[job.name] = thread
                    thread.start()
                wait = self._sleep_seconds(now, busy=set(running) | set(held))
                stop.wait(min(wait, HOLD_POLL_SECONDS) if held else wait)
        finally:
            for thread in running.values():
                thread.join()
            self.lock.release()

    def _sleep_seconds(self, now: datetime, *, busy: set[str]) -> float:
        upcoming = [
            state.next_due
            for state in self.states(now)
            if state.job.name not in busy and state.next_due > now
        ]
        if not upcoming:
            return MAX_SLEEP_SECONDS
        wait = (min(upcoming) - now) / timedelta(seconds=1)
        return max(1.0, min(MAX_SLEEP_SECONDS, wait))
