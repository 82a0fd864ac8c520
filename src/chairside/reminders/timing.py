"""When a reminder is due: lead times across daylight-saving changes, and quiet hours.

**Lead times.** A lead of whole days (24 h, 48 h…) means *the same wall-clock time that
many days before, in the shop's zone*: the client booked "Sunday 10:00" and the 24 h
reminder comes on Saturday at 10:00, even when the clocks change in between (then 23 or
25 real hours before). That is what "a day before" means to a person, and it keeps the
reminder out of the night. Any other lead (2 h, 90 min) is elapsed time: two real hours
before the booking, whatever the clocks do. A wall-clock time that does not exist (the
hour skipped when clocks spring forward) is read with the offset before the change, so it
lands just after the gap; one that happens twice (clocks falling back) is the first.

**Quiet hours** are wall-clock times in the *client's* zone (the account's, else the
shop's), strictly between ``start`` and ``end`` (21:00-08:00 by default: 21:00 and 08:00
themselves are allowed). A reminder due inside them is moved to their end when that is
still before the booking starts, and otherwise to their start (sent earlier rather than
never). ``start == end`` means no quiet hours.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

DAY_MINUTES = 24 * 60


@dataclass(frozen=True)
class QuietHours:
    """Wall-clock times of the client's day when no reminder is delivered."""

    start: time
    end: time

    def contains(self, local: time) -> bool:
        """Whether a local time of day lies strictly inside the quiet hours."""
        if self.start == self.end:
            return False
        if self.start < self.end:
            return self.start < local < self.end
        return local > self.start or local < self.end


def at_wall_time(day: date, wall: time, zone: ZoneInfo) -> datetime:
    """The instant a wall-clock time of ``day`` in ``zone`` names (UTC); see the module."""
    return datetime.combine(day, wall, tzinfo=zone).astimezone(UTC)


def lead_instant(starts_at: datetime, lead_minutes: int, shop_zone: ZoneInfo) -> datetime:
    """The instant ``lead_minutes`` before ``starts_at``: calendar days in the shop's zone
    for whole days, elapsed time otherwise."""
    if lead_minutes % DAY_MINUTES == 0:
        local = starts_at.astimezone(shop_zone)
        day = local.date() - timedelta(days=lead_minutes // DAY_MINUTES)
        return at_wall_time(day, local.time().replace(tzinfo=None), shop_zone)
    # In UTC: arithmetic on an aware datetime in a zone with DST moves its wall clock.
    return starts_at.astimezone(UTC) - timedelta(minutes=lead_minutes)


def outside_quiet_hours(
    instant: datetime, *, zone: ZoneInfo, quiet: QuietHours, deadline: datetime
) -> datetime:
    """``instant``, or the edge of the quiet hours it falls into (the end when that is
    before ``deadline``, else the start)."""
    local = instant.astimezone(zone)
    if not quiet.contains(local.time()):
        return instant.astimezone(UTC)
    day = local.date()
    wall = local.time().replace(tzinfo=None)
    end_day = day if wall < quiet.end else day + timedelta(days=1)
    end = at_wall_time(end_day, quiet.end, zone)
    if end < deadline:
        return end
    start_day = day if wall > quiet.start else day - timedelta(days=1)
    return at_wall_time(start_day, quiet.start, zone)


@dataclass(frozen=True)
class Due:
    """One reminder to write: its lead time and the instant it is due."""

    lead_minutes: int
    due_at: datetime


def plan(
    *,
    starts_at: datetime,
    leads: Iterable[int],
    shop_zone: ZoneInfo,
    client_zone: ZoneInfo,
    quiet: QuietHours,
    now: datetime,
) -> list[Due]:
    """The reminders of a booking starting at ``starts_at``; those already past are left
    out (a booking made 3 h ahead gets no 24 h reminder)."""
    planned = []
    for lead in sorted(set(leads), reverse=True):
        due = outside_quiet_hours(
            lead_instant(starts_at, lead, shop_zone),
            zone=client_zone,
            quiet=quiet,
            deadline=starts_at,
        )
        if now < due < starts_at:
            planned.append(Due(lead, due))
    return planned


def retry_instant(
    *,
    now: datetime,
    delay: timedelta,
    client_zone: ZoneInfo,
    quiet: QuietHours,
    starts_at: datetime,
) -> datetime | None:
    """When to try again after ``delay``, outside quiet hours; None when no such moment
    is left before the booking starts."""
    candidate = outside_quiet_hours(
        now.astimezone(UTC) + delay, zone=client_zone, quiet=quiet, deadline=starts_at
    )
    if candidate <= now or candidate >= starts_at:
        return None
    return candidate


def backoff(attempt: int, *, base_seconds: float, cap_seconds: float) -> timedelta:
    """The wait after failed attempt number ``attempt`` (1-based): doubling, capped."""
    return timedelta(seconds=min(base_seconds * 2 ** max(attempt - 1, 0), cap_seconds))
