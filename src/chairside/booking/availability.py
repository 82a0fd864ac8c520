"""Free start times of one provider for one service, computed in the shop's time zone.

Weekly hours and breaks are wall-clock times of the shop; each local day's intervals are
turned into absolute UTC instants through ``zoneinfo``, so a working day that spans a DST
change is as long as it really is (``09:00-17:00`` is always eight hours; ``01:00-04:00``
is two hours on the spring-forward day and four on the fall-back day). Slots step through
absolute time from the start of each free window. A slot is offered when the service fits
in working time (outside breaks and time off), starts after the minimum notice, and its
buffered interval overlaps no live booking's buffered interval: the same rule the
``bookings_no_overlap`` exclusion constraint enforces.
"""

from __future__ import annotations

import bisect
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    CompoundSelect,
    DateTime,
    SmallInteger,
    Time,
    Uuid,
    and_,
    bindparam,
    literal,
    null,
    or_,
    select,
    union_all,
)
from sqlalchemy.orm import Session

from chairside.booking.models import Booking
from chairside.shops.models import Provider, Service, Shop, TimeOff, WorkingBreak, WorkingHours

Interval = tuple[datetime, datetime]
MAX_RANGE_DAYS = 31


@dataclass(frozen=True)
class Schedule:
    """What availability needs to know about one provider over a stretch of days."""

    shop: Shop
    provider: Provider
    hours: dict[int, list[tuple[time, time]]]
    breaks: dict[int, list[tuple[time, time]]]
    time_off: list[Interval]
    busy: list[Interval]  # buffered intervals of live bookings, sorted by start

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.shop.timezone)


def load_schedule(
    *,
    session: Session,
    shop: Shop,
    provider: Provider,
    window: Interval,
    now: datetime,
    ignore_booking: uuid.UUID | None = None,
    busy: bool = True,
) -> Schedule:
    """Hours, breaks, time off and (unless ``busy`` is false) live bookings around ``window``.

    One round trip. Creating a booking reads no busy intervals: the exclusion constraint
    decides whether its slot is free, and only a refusal looks for the booking in the way.
    """
    # A day's slots may reach a few hours beyond the window (buffers), so widen it.
    params: dict[str, object] = {
        "provider_id": provider.id,
        "lo": window[0] - timedelta(days=1),
        "hi": window[1] + timedelta(days=1),
    }
    if busy:
        params["now"] = now
    if ignore_booking is not None:
        params["ignore_booking"] = ignore_booking
    statement = _SCHEDULE[(busy, busy and ignore_booking is not None)]
    hours: dict[int, list[tuple[time, time]]] = {}
    breaks: dict[int, list[tuple[time, time]]] = {}
    time_off: list[Interval] = []
    live: list[Interval] = []
    for kind, weekday, starts, ends, starts_at, ends_at in session.execute(statement, params):
        if kind == "h":
            hours.setdefault(weekday, []).append((starts, ends))
        elif kind == "w":
            breaks.setdefault(weekday, []).append((starts, ends))
        elif kind == "o":
            time_off.append((starts_at, ends_at))
        else:
            live.append((starts_at, ends_at))
    live.sort()
    return Schedule(
        shop=shop, provider=provider, hours=hours, breaks=breaks, time_off=time_off, busy=live
    )


def _schedule_statement(*, busy: bool, ignore_booking: bool) -> CompoundSelect[Any]:
    """Hours, breaks, time off (and live bookings) of one provider as one UNION ALL.

    Built once per shape, with bind parameters: this runs on every availability query and
    booking, where building and cache-keying a fresh statement costs more than running it.
    """
    provider = bindparam("provider_id", type_=Uuid)
    lo = bindparam("lo", type_=DateTime(timezone=True))
    hi = bindparam("hi", type_=DateTime(timezone=True))
    no_day = null().cast(SmallInteger)
    no_time = null().cast(Time)
    no_instant = null().cast(DateTime(timezone=True))
    weekly = (("h", WorkingHours), ("w", WorkingBreak))
    parts = [
        select(
            literal(kind), table.weekday, table.starts, table.ends, no_instant, no_instant
        ).where(table.provider_id == provider)
        for kind, table in weekly
    ]
    parts.append(
        select(literal("o"), no_day, no_time, no_time, TimeOff.starts_at, TimeOff.ends_at).where(
            TimeOff.provider_id == provider, TimeOff.starts_at < hi, TimeOff.ends_at > lo
        )
    )
    if busy:
        live = select(
            literal("b"),
            no_day,
            no_time,
            no_time,
            Booking.buffered_starts_at,
            Booking.buffered_ends_at,
        ).where(
            Booking.provider_id == provider,
            Booking.buffered_starts_at < hi,
            Booking.buffered_ends_at > lo,
            # An expired hold still marked pending no longer holds its slot.
            or_(
                Booking.status == "confirmed",
                and_(
                    Booking.status == "pending_payment",
                    Booking.hold_expires_at > bindparam("now", type_=DateTime(timezone=True)),
                ),
            ),
        )
        if ignore_booking:
            live = live.where(Booking.id != bindparam("ignore_booking", type_=Uuid))
        parts.append(live)
    return union_all(*parts)


_SCHEDULE = {
    (busy, ignore): _schedule_statement(busy=busy, ignore_booking=ignore)
    for busy, ignore in ((True, False), (True, True), (False, False))
}


def local_day_bounds(day: date, zone: ZoneInfo) -> Interval:
    """The UTC instants where a local calendar day starts and ends."""
    start = datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone).astimezone(UTC)
    return start, end


def working_windows(schedule: Schedule, day: date) -> list[Interval]:
    """The UTC intervals a provider works on a local day: hours minus breaks and time off."""
    zone = schedule.zone
    weekday = day.weekday()

    def absolute(t: time) -> datetime:
        # fold=0: a wall time that does not exist (spring forward) lands after the gap.
        return datetime.combine(day, t, tzinfo=zone).astimezone(UTC)

    windows = [(absolute(a), absolute(b)) for a, b in schedule.hours.get(weekday, [])]
    cuts = [(absolute(a), absolute(b)) for a, b in schedule.breaks.get(weekday, [])]
    cuts.extend(schedule.time_off)
    return [w for w in _subtract(windows, cuts) if w[0] < w[1]]


def _subtract(windows: list[Interval], cuts: Sequence[Interval]) -> list[Interval]:
    result = sorted(windows)
    for cut_start, cut_end in cuts:
        pieces: list[Interval] = []
        for start, end in result:
            if cut_end <= start or cut_start >= end:
                pieces.append((start, end))
                continue
            if start < cut_start:
                pieces.append((start, cut_start))
            if cut_end < end:
                pieces.append((cut_end, end))
        result = pieces
    return result


def buffered(service: Service, start: datetime) -> Interval:
    """The interval a booking at ``start`` occupies, buffers included."""
    end = start + timedelta(minutes=service.duration_minutes)
    return (
        start - timedelta(minutes=service.buffer_before_minutes),
        end + timedelta(minutes=service.buffer_after_minutes),
    )


def overlaps_busy(schedule: Schedule, interval: Interval) -> Interval | None:
    """The first busy interval overlapping ``interval``, or None."""
    # Live bookings of one provider never overlap each other (the exclusion constraint),
    # so sorted by start they are sorted by end too: only the last one starting before
    # the interval ends can reach into it.
    index = bisect.bisect_left(schedule.busy, (interval[1], interval[1]))
    if index and schedule.busy[index - 1][1] > interval[0]:
        return schedule.busy[index - 1]
    return None


def free_slots(
    *, schedule: Schedule, service: Service, first_day: date, last_day: date, now: datetime
) -> Iterator[datetime]:
    """Free start times (UTC) from ``first_day`` to ``last_day`` (local dates, inclusive)."""
    step = timedelta(minutes=schedule.shop.slot_step_minutes)
    duration = timedelta(minutes=service.duration_minutes)
    before = timedelta(minutes=service.buffer_before_minutes)
    after = duration + timedelta(minutes=service.buffer_after_minutes)
    earliest = now + timedelta(minutes=schedule.shop.min_notice_minutes)
    busy_starts = [b[0] for b in schedule.busy]
    busy_ends = [b[1] for b in schedule.busy]
    day = first_day
    while day <= last_day:
        for window_start, window_end in working_windows(schedule, day):
            start = window_start
            while start + duration <= window_end:
                if start >= earliest:
                    # Same rule as overlaps_busy(), inlined: this loop runs per slot.
                    index = bisect.bisect_left(busy_starts, start + after)
                    if not index or busy_ends[index - 1] <= start - before:
                        yield start
                start += step
        day += timedelta(days=1)


def fits_working_time(schedule: Schedule, service: Service, start: datetime) -> bool:
    """True when a booking at ``start`` lies inside working time (no step alignment needed)."""
    end = start + timedelta(minutes=service.duration_minutes)
    day = start.astimezone(schedule.zone).date()
    return any(a <= start and end <= b for a, b in working_windows(schedule, day))
