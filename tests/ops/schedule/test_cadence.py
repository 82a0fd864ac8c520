"""Due times: a slot since the last start makes a job due, however many slots were missed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from chairside.errors import InputError
from chairside.ops.schedule.cadence import is_due, latest_slot, next_due
from chairside.ops.schedule.jobs import Job

HOURLY = Job("hourly", "0 * * * *", ("status",), 60)
WEEKLY = Job("weekly", "0 2 * * 0", ("maintenance", "full"), 60)  # Sunday 02:00
SUNDAY_2AM = datetime(2026, 1, 4, 2, 0, tzinfo=UTC)


def test_a_job_that_never_ran_is_due_at_once() -> None:
    now = datetime(2026, 1, 5, 10, 17, tzinfo=UTC)
    assert is_due(HOURLY, last_started=None, now=now)
    assert next_due(HOURLY, last_started=None, now=now) == now


def test_a_job_that_ran_after_its_latest_slot_waits_for_the_next_one() -> None:
    now = datetime(2026, 1, 5, 10, 17, tzinfo=UTC)
    last = datetime(2026, 1, 5, 10, 0, 4, tzinfo=UTC)
    assert not is_due(HOURLY, last_started=last, now=now)
    assert next_due(HOURLY, last_started=last, now=now) == datetime(2026, 1, 5, 11, tzinfo=UTC)


def test_five_missed_hourly_slots_make_one_due_run_and_none_after_it() -> None:
    last = datetime(2026, 1, 5, 5, 0, 2, tzinfo=UTC)
    back = datetime(2026, 1, 5, 10, 30, tzinfo=UTC)  # 06:00 … 10:00 missed
    assert is_due(HOURLY, last_started=last, now=back)
    # The catch-up run starts at ``back``; no other missed slot is due after it.
    assert not is_due(HOURLY, last_started=back, now=back + timedelta(minutes=29))
    assert is_due(HOURLY, last_started=back, now=back + timedelta(minutes=30))


def test_the_weekly_job_is_due_exactly_at_sunday_two_and_not_a_second_before() -> None:
    last_week = SUNDAY_2AM - timedelta(days=7)
    assert not is_due(WEEKLY, last_started=last_week, now=SUNDAY_2AM - timedelta(seconds=1))
    assert is_due(WEEKLY, last_started=last_week, now=SUNDAY_2AM)
    assert latest_slot(WEEKLY, SUNDAY_2AM + timedelta(days=3)) == SUNDAY_2AM


def test_a_cadence_that_is_not_cron_is_refused_naming_it() -> None:
    with pytest.raises(InputError, match="'every hour'"):
        Job("bad", "every hour", ("status",), 60)


def test_a_timeout_of_zero_is_refused() -> None:
    with pytest.raises(InputError, match="timeout 0"):
        Job("bad", "* * * * *", ("status",), 0)
