"""Due instants on the edges of daylight-saving changes and quiet hours (no database)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from chairside.reminders import timing

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
NIGHT = timing.QuietHours(time(21, 0), time(8, 0))
NONE = timing.QuietHours(time(0, 0), time(0, 0))


def test_a_day_before_a_skipped_hour_lands_just_after_the_gap() -> None:
    # Monday 13 March 2028 02:30 in New York; Sunday 02:30 does not exist (02:00 -> 03:00).
    starts = datetime(2028, 3, 13, 2, 30, tzinfo=NEW_YORK)
    due = timing.lead_instant(starts, 1440, NEW_YORK)
    assert due == datetime(2028, 3, 12, 7, 30, tzinfo=UTC)  # 03:30 EDT
    assert due.astimezone(NEW_YORK).strftime("%H:%M %Z") == "03:30 EDT"


def test_a_day_before_a_repeated_hour_is_its_first_occurrence() -> None:
    # Monday 1 November 2027 02:30 in Berlin; Sunday 02:30 happens twice (CEST, then CET).
    starts = datetime(2027, 11, 1, 2, 30, tzinfo=BERLIN)
    assert timing.lead_instant(starts, 1440, BERLIN) == datetime(2027, 10, 31, 0, 30, tzinfo=UTC)


def test_hours_of_lead_are_real_hours_across_the_change() -> None:
    starts = datetime(2027, 10, 31, 3, 30, tzinfo=BERLIN)  # 02:30Z, an hour after the change
    assert timing.lead_instant(starts, 120, BERLIN) == datetime(2027, 10, 31, 0, 30, tzinfo=UTC)


def test_quiet_hours_move_a_reminder_to_their_end_or_else_their_start() -> None:
    zone = BERLIN
    booking = datetime(2027, 6, 10, 9, 0, tzinfo=zone)
    at_seven = datetime(2027, 6, 10, 7, 0, tzinfo=zone)
    assert timing.outside_quiet_hours(at_seven, zone=zone, quiet=NIGHT, deadline=booking) == (
        datetime(2027, 6, 10, 8, 0, tzinfo=zone)
    )
    early = datetime(2027, 6, 10, 7, 30, tzinfo=zone)
    assert timing.outside_quiet_hours(at_seven, zone=zone, quiet=NIGHT, deadline=early) == (
        datetime(2027, 6, 9, 21, 0, tzinfo=zone)
    )
    # The edges themselves are allowed; equal edges mean no quiet hours at all.
    eight = datetime(2027, 6, 10, 8, 0, tzinfo=zone)
    assert timing.outside_quiet_hours(eight, zone=zone, quiet=NIGHT, deadline=booking) == eight
    assert timing.outside_quiet_hours(at_seven, zone=zone, quiet=NONE, deadline=booking) == (
        at_seven
    )


def test_a_retry_with_no_time_left_outside_quiet_hours_gives_up() -> None:
    zone = BERLIN
    now = datetime(2027, 6, 10, 6, 0, tzinfo=zone)  # quiet until 08:00; booking at 07:30
    booking = datetime(2027, 6, 10, 7, 30, tzinfo=zone)
    assert (
        timing.retry_instant(
            now=now, delay=timedelta(minutes=1), client_zone=zone, quiet=NIGHT, starts_at=booking
        )
        is None
    )
    assert [timing.backoff(n, base_seconds=60, cap_seconds=300).seconds for n in (1, 2, 3, 4)] == [
        60,
        120,
        240,
        300,
    ]
