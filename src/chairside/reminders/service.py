"""Reminders as the CLI (and the schedule) use them: the channels from settings, a run,
the status."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

from sqlalchemy.orm import Session, sessionmaker

from chairside.checks import CheckResult
from chairside.clock import Clock
from chairside.config import Settings
from chairside.db import transaction
from chairside.reminders import worker
from chairside.reminders.apprise_channel import AppriseReminderChannel
from chairside.reminders.channel import ReminderChannel, channel_configs
from chairside.reminders.status import ReminderCounts, check_reminders, read_counts


def policy_from_settings(settings: Settings) -> worker.Policy:
    """The worker's lease and retry policy."""
    return worker.Policy(
        lease=timedelta(seconds=settings.reminder_lease_seconds),
        max_attempts=settings.reminder_max_attempts,
        backoff_seconds=settings.reminder_backoff_seconds,
        backoff_cap_seconds=settings.reminder_backoff_cap_seconds,
    )


def channels_from_settings(settings: Settings) -> dict[str, ReminderChannel]:
    """An apprise channel per configured name."""
    return {c.name: AppriseReminderChannel(c) for c in channel_configs(settings)}


def deliver_due(
    *,
    sessions: sessionmaker[Session],
    settings: Settings,
    clock: Clock,
    limit: int = 1000,
    channels: Mapping[str, ReminderChannel] | None = None,
) -> worker.RunReport:
    """One run of the worker with the configured channels (or ``channels``)."""
    return worker.run_due(
        sessions=sessions,
        channels=channels_from_settings(settings) if channels is None else channels,
        clock=clock,
        policy=policy_from_settings(settings),
        limit=limit,
    )


def status(
    *, sessions: sessionmaker[Session], settings: Settings, clock: Clock
) -> tuple[ReminderCounts, list[CheckResult]]:
    """The counts and the checks of ``reminders status``."""
    with transaction(sessions) as session:
        counts = read_counts(session=session, now=clock.now())
    return counts, check_reminders(counts, settings)
