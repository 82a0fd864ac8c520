"""free_runs / local_isoformat against the obvious slot-by-slot rule, on random schedules.

The fast path works out free stretches between blocked intervals and renders whole runs
with one UTC offset; these tests hold it to the definition, including DST days.
"""

from __future__ import annotations

import bisect
import json
import random
from datetime import UTC, date, datetime, time, timedelta
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from chairside.booking import availability

BERLIN = "Europe/Berlin"
DAYS = [date(2027, 3, 27), date(2027, 3, 28), date(2027, 10, 31), date(2027, 6, 15)]


def _reference(schedule: Any, service: Any, first: date, last: date, now: datetime) -> list[str]:
    """Slot by slot: the rule as written in availability's module docstring."""
    zone = ZoneInfo(schedule.shop.timezone)
    step = timedelta(minutes=schedule.shop.slot_step_minutes)
    duration = timedelta(minutes=service.duration_minutes)
    before = timedelta(minutes=service.buffer_before_minutes)
    after = duration + timedelta(minutes=service.buffer_after_minutes)
    earliest = now + timedelta(minutes=schedule.shop.min_notice_minutes)
    starts = [b[0] for b in schedule.busy]
    out = []
    day = first
    while day <= last:
        for window_start, window_end in availability.working_windows(schedule, day):
            start = window_start
            while start + duration <= window_end:
                index = bisect.bisect_left(starts, start + after)
                free = not index or schedule.busy[index - 1][1] <= start - before
                if start >= earliest and free:
                    out.append(start.astimezone(zone).isoformat())
                start += step
        day += timedelta(days=1)
    return out


def _random_case(rng: random.Random) -> tuple[Any, Any, datetime]:
    shop = SimpleNamespace(
        timezone=rng.choice([BERLIN, "UTC", "Asia/Kathmandu", "America/St_Johns"]),
        slot_step_minutes=rng.choice([5, 10, 15, 30]),
        min_notice_minutes=rng.choice([0, 60, 600]),
    )
    service = SimpleNamespace(
        duration_minutes=rng.choice([5, 30, 45, 90]),
        buffer_before_minutes=rng.choice([0, 5, 10]),
        buffer_after_minutes=rng.choice([0, 5, 15]),
    )
    hours: dict[int, list[tuple[time, time]]] = {}
    breaks: dict[int, list[tuple[time, time]]] = {}
    for weekday in range(7):
        if rng.random() < 0.85:
            start, end = rng.choice([(0, 23), (1, 4), (9, 18), (6, 22)])
            hours[weekday] = [(time(start), time(end, rng.choice([0, 30])))]
            if rng.random() < 0.5:
                breaks[weekday] = [(time(13), time(13, 30))]
    busy = []
    cursor = datetime.combine(DAYS[0], time(0), tzinfo=UTC)
    for _ in range(rng.randint(0, 40)):
        cursor += timedelta(minutes=rng.randint(0, 600))
        length = timedelta(minutes=rng.choice([5, 30, 45, 120]))
        busy.append((cursor, cursor + length))
        cursor += length
    schedule = availability.Schedule(
        shop=shop,  # type: ignore[arg-type]
        provider=SimpleNamespace(id=None),  # type: ignore[arg-type]
        hours=hours,
        breaks=breaks,
        time_off=[],
        busy=busy,
    )
    now = datetime.combine(DAYS[0], time(rng.randint(0, 23)), tzinfo=UTC)
    return schedule, service, now


@pytest.mark.parametrize("seed", range(200))
def test_free_runs_offer_exactly_the_slots_the_slot_by_slot_rule_offers(seed: int) -> None:
    rng = random.Random(seed)
    schedule, service, now = _random_case(rng)
    first = rng.choice(DAYS)
    last = first + timedelta(days=rng.choice([0, 1, 2]))
    runs = list(
        availability.free_runs(
            schedule=schedule, service=service, first_day=first, last_day=last, now=now
        )
    )
    rendered = availability.local_isoformat(runs, ZoneInfo(schedule.shop.timezone))
    assert rendered == _reference(schedule, service, first, last, now)
    slots = list(
        availability.free_slots(
            schedule=schedule, service=service, first_day=first, last_day=last, now=now
        )
    )
    assert [s.astimezone(ZoneInfo(schedule.shop.timezone)).isoformat() for s in slots] == rendered
    # The hand-written JSON array is exactly what a JSON encoder makes of the strings.
    assert availability.slots_json(rendered) == json.dumps(rendered, separators=(",", ":"))
