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
import itertools
import json
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    CompoundSelect,
    DateTime,
    Select,
    SmallInteger,
    Time,
    Uuid,
    and_,
    bindparam,
    func,
    literal,
    null,
    or_,
    select,
    union_all,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql.selectable import LateralFromClause

from chairside.booking.models import Booking
from chairside.bounds import clamped_instant
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
    # When the first of the busy holds (pending payment) runs out and frees its slot.
    first_hold_ends: datetime | None = None

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
    first_hold_ends: datetime | None = None
    rows = session.execute(statement, params)
    for kind, weekday, starts, ends, starts_at, ends_at, hold_ends in rows:
        if kind == "h":
            hours.setdefault(weekday, []).append((starts, ends))
        elif kind == "w":
            breaks.setdefault(weekday, []).append((starts, ends))
        elif kind == "o":
            time_off.append((starts_at, ends_at))
        else:
            live.append((starts_at, ends_at))
            if hold_ends is not None and (first_hold_ends is None or hold_ends < first_hold_ends):
                first_hold_ends = hold_ends
    live.sort()
    return Schedule(
        shop=shop,
        provider=provider,
        hours=hours,
        breaks=breaks,
        time_off=time_off,
        busy=live,
        first_hold_ends=first_hold_ends,
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
    parts: list[Select[Any]] = [
        select(
            literal(kind),
            table.weekday,
            table.starts,
            table.ends,
            no_instant,
            no_instant,
            no_instant,
        ).where(table.provider_id == provider)
        for kind, table in weekly
    ]
    parts.append(
        select(
            literal("o"),
            no_day,
            no_time,
            no_time,
            clamped_instant(TimeOff.starts_at),
            clamped_instant(TimeOff.ends_at),
            no_instant,
        ).where(TimeOff.provider_id == provider, TimeOff.starts_at < hi, TimeOff.ends_at > lo)
    )
    if busy:
        live = select(
            literal("b"),
            no_day,
            no_time,
            no_time,
            Booking.buffered_starts_at,
            Booking.buffered_ends_at,
            Booking.hold_expires_at,  # set while pending payment, cleared once confirmed
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


# A booking's buffered interval reaches at most 4 h before its start and 16 h after it
# (12 h service, 4 h buffer; see shops.schemas), and load_schedule widens a window by a
# day on each side: two days around the start hold everything a booking's checks read.
AROUND_START = timedelta(days=2)


def schedule_laterals() -> tuple[LateralFromClause, ...]:
    """Hours, breaks and time off as arrays, for a statement that loads them with its row.

    One ``LATERAL`` subquery per table, aggregated so that the row stays one, for the
    statement's ``providers`` row; time off between the bind parameters ``lo`` and
    ``hi``. :func:`schedule_of` reads them back. Booking creation loads its schedule this
    way, in the statement it runs anyway.
    """
    weekly = [
        select(
            func.array_agg(table.weekday).label(f"{name}_days"),
            func.array_agg(table.starts).label(f"{name}_starts"),
            func.array_agg(table.ends).label(f"{name}_ends"),
        )
        .where(table.provider_id == Provider.id)
        .lateral(name)
        for name, table in (("hours", WorkingHours), ("breaks", WorkingBreak))
    ]
    time_off = (
        select(
            func.array_agg(clamped_instant(TimeOff.starts_at)).label("off_starts"),
            func.array_agg(clamped_instant(TimeOff.ends_at)).label("off_ends"),
        )
        .where(
            TimeOff.provider_id == Provider.id,
            TimeOff.starts_at < bindparam("hi", type_=DateTime(timezone=True)),
            TimeOff.ends_at > bindparam("lo", type_=DateTime(timezone=True)),
        )
        .lateral("time_off")
    )
    return (*weekly, time_off)


def schedule_of(row: Any, *, shop: Shop, provider: Provider) -> Schedule:
    """The schedule (without busy intervals) from a row with :func:`schedule_laterals`."""

    def weekly(name: str) -> dict[int, list[tuple[time, time]]]:
        found: dict[int, list[tuple[time, time]]] = {}
        days = getattr(row, f"{name}_days") or ()
        starts, ends = getattr(row, f"{name}_starts") or (), getattr(row, f"{name}_ends") or ()
        for day, start, end in zip(days, starts, ends, strict=True):
            found.setdefault(day, []).append((start, end))
        return found

    return Schedule(
        shop=shop,
        provider=provider,
        hours=weekly("hours"),
        breaks=weekly("breaks"),
        time_off=list(zip(row.off_starts or (), row.off_ends or (), strict=True)),
        busy=[],
    )


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


@dataclass(frozen=True)
class Run:
    """Free start times ``first``, ``first + step``, … ``first + (count - 1) * step`` (UTC)."""

    first: datetime
    step: timedelta
    count: int

    def __iter__(self) -> Iterator[datetime]:
        return (self.first + k * self.step for k in range(self.count))


def free_runs(
    *, schedule: Schedule, service: Service, first_day: date, last_day: date, now: datetime
) -> Iterator[Run]:
    """Free start times from ``first_day`` to ``last_day`` (local dates, inclusive), in runs.

    Slots step through each working window from its start. A start ``s`` is free when the
    service fits the window, ``s`` respects the minimum notice, and the buffered interval
    ``[s - before, s + duration + after)`` overlaps no busy interval ``[b0, b1)``, that is
    ``s`` lies outside ``(b0 - duration - after, b1 + before)``. Working out the allowed
    stretches between those open intervals, rather than testing slot by slot, keeps a
    31-day query cheap.
    """
    step = timedelta(minutes=schedule.shop.slot_step_minutes)
    duration = timedelta(minutes=service.duration_minutes)
    before = timedelta(minutes=service.buffer_before_minutes)
    after = duration + timedelta(minutes=service.buffer_after_minutes)
    earliest = now + timedelta(minutes=schedule.shop.min_notice_minutes)
    # Sorted by start. The running maximum of their ends finds the first stretch that can
    # reach past a point even on a copy whose bookings overlap (a lost constraint).
    blocked = [(b0 - after, b1 + before) for b0, b1 in schedule.busy]
    blocked_ends = list(itertools.accumulate((b1 for _, b1 in blocked), max))
    day = first_day
    while day <= last_day:
        for window_start, window_end in working_windows(schedule, day):
            lo, hi = max(window_start, earliest), window_end - duration
            # Allowed starts: lo <= s <= hi, outside every open stretch (b0, b1).
            for b0, b1 in blocked[bisect.bisect_right(blocked_ends, lo) :]:
                if b0 >= hi or lo > hi:
                    break
                if b0 >= lo:
                    run = _grid(window_start, step, lo, b0)
                    if run is not None:
                        yield run
                lo = max(lo, b1)
            if lo <= hi:
                run = _grid(window_start, step, lo, hi)
                if run is not None:
                    yield run
        day += timedelta(days=1)


def stable_until(*, schedule: Schedule, runs: Sequence[Run], now: datetime) -> datetime | None:
    """When the free times found at ``now`` next change by time alone (None: not by time).

    Two things change them without a write: a hold that runs out frees its slot, and the
    first free start goes once it comes inside the minimum notice (later ones go later;
    none appear). ``runs`` are :func:`free_runs` of ``schedule`` at ``now``, in order.
    """
    moments = [] if schedule.first_hold_ends is None else [schedule.first_hold_ends]
    if runs:
        moments.append(runs[0].first - timedelta(minutes=schedule.shop.min_notice_minutes))
    return min(moments, default=None)


def _grid(origin: datetime, step: timedelta, lo: datetime, hi: datetime) -> Run | None:
    """The points ``origin + k * step`` inside ``[lo, hi]``, as a run (None when none are)."""
    first_k = -((origin - lo) // step)  # ceil((lo - origin) / step)
    last_k = (hi - origin) // step
    if last_k < first_k:
        return None
    return Run(first=origin + first_k * step, step=step, count=last_k - first_k + 1)


def free_slots(
    *, schedule: Schedule, service: Service, first_day: date, last_day: date, now: datetime
) -> Iterator[datetime]:
    """Free start times (UTC) from ``first_day`` to ``last_day`` (local dates, inclusive)."""
    for run in free_runs(
        schedule=schedule, service=service, first_day=first_day, last_day=last_day, now=now
    ):
        yield from run


def local_isoformat(runs: Iterable[Run], zone: ZoneInfo) -> list[str]:
    """The start times of ``runs`` as ISO 8601 strings with the zone's offset.

    A run lies inside one working window of one local day. Where the offset at its first
    and last slot agree (every run but one crossing a DST change, as no zone changes its
    offset twice within a day), every slot of the run shares that offset and that date,
    and its strings are put together from the minute of the day: converting ~1,000 slots
    one by one through ``zoneinfo`` cost more than the rest of the request.
    """
    out: list[str] = []
    for run in runs:
        first = run.first.astimezone(zone)
        last = (run.first + (run.count - 1) * run.step).astimezone(zone)
        step, remainder = divmod(run.step, _MINUTE)
        if (
            first.utcoffset() != last.utcoffset()
            or first.date() != last.date()
            or first.second
            or first.microsecond
            or remainder
        ):
            out.extend(s.astimezone(zone).isoformat() for s in run)
            continue
        text = first.isoformat()
        prefix, suffix = text[:11], text[19:]  # "YYYY-MM-DDT", "+HH:MM"
        minute = first.hour * 60 + first.minute
        out.extend(
            prefix + _CLOCK[m] + suffix for m in range(minute, minute + run.count * step, step)
        )
    return out


def slots_json(slots: list[str]) -> str:
    """``slots`` (from :func:`local_isoformat`) as a JSON array.

    ISO 8601 strings hold digits, ``-``, ``:``, ``T`` and ``+`` only, none of which JSON
    escapes, so joining them is exact, and it is several times faster than ``json.dumps``
    on a thousand strings.
    """
    return '["' + '","'.join(slots) + '"]' if slots else "[]"


def render_json(fields: dict[str, object], *, runs: Iterable[Run], zone: ZoneInfo) -> str:
    """A JSON object of ``fields`` with the start times of ``runs`` as its last member, ``slots``.

    Written by hand: a thousand slots through pydantic models, or even ``json.dumps``, cost
    more than the query that found them.
    """
    return json.dumps(fields)[:-1] + ', "slots": ' + slots_json(local_isoformat(runs, zone)) + "}"


_MINUTE = timedelta(minutes=1)
# "HH:MM:00" for every minute of a day.
_CLOCK = tuple(f"{m // 60:02d}:{m % 60:02d}:00" for m in range(24 * 60))


def fits_working_time(schedule: Schedule, service: Service, start: datetime) -> bool:
    """True when a booking at ``start`` lies inside working time (no step alignment needed)."""
    end = start + timedelta(minutes=service.duration_minutes)
    day = start.astimezone(schedule.zone).date()
    return any(a <= start and end <= b for a, b in working_windows(schedule, day))
