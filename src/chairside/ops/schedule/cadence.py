"""When a job is due: its cron slots (UTC) against the time it last started.

A job is due when one of its slots fell after its last start and at or before ``now``.
However many slots were missed while the scheduler was down, that is one due run, not
one per slot: a backup or a health check run twice in a row tells nothing new. A job
that has never run is due at once, so that a new installation (or a job new to the
table) catches up instead of waiting up to a month for its first slot.

Every function takes ``now``, so that tests move the clock rather than sleep.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from croniter import croniter

from chairside.ops.schedule.jobs import Job


def latest_slot(job: Job, now: datetime) -> datetime:
    """The newest slot of ``job`` at or before ``now``."""
    # croniter's get_prev is strictly before its start; a second later includes ``now``.
    start = now.astimezone(UTC) + timedelta(seconds=1)
    slot: datetime = croniter(job.cadence, start).get_prev(datetime)
    return slot


def next_slot(job: Job, now: datetime) -> datetime:
    """The first slot of ``job`` strictly after ``now``."""
    slot: datetime = croniter(job.cadence, now.astimezone(UTC)).get_next(datetime)
    return slot


def is_due(job: Job, *, last_started: datetime | None, now: datetime) -> bool:
    """True when a slot of ``job`` fell after its last start (or it never ran)."""
    if last_started is None:
        return True
    return latest_slot(job, now) > last_started.astimezone(UTC)


def next_due(job: Job, *, last_started: datetime | None, now: datetime) -> datetime:
    """When ``job`` should run next: ``now`` when it is due, else its next slot."""
    if is_due(job, last_started=last_started, now=now):
        return now.astimezone(UTC)
    return next_slot(job, now)
