"""The clock seam: what time it is, for code whose tests must move time.

::

    Clock (Protocol)
    ├── SystemClock   the real time, UTC
    └── ManualClock   stands still until a test sets or advances it

Most of Chairside reads ``datetime.now(UTC)`` or the database's ``now()`` directly; code
that schedules things in the future (the reminder worker) takes a ``Clock`` instead, so a
test can walk it across a daylight-saving change without sleeping. The ops schedule
(``ops/schedule/runner.py``) takes a clock as a plain callable; both clocks here are
callable too, so one ``ManualClock`` can drive either.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """Tells the current instant, always timezone-aware (UTC)."""

    def now(self) -> datetime: ...


class SystemClock:
    """The real time."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now()


class ManualClock:
    """A clock that moves only when told to; for tests and rehearsals."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError(f"{start.isoformat()} has no time zone; the clock needs an instant")
        self._now = start.astimezone(UTC)

    def now(self) -> datetime:
        return self._now

    def __call__(self) -> datetime:
        return self._now

    def set(self, instant: datetime) -> None:
        """Jump to ``instant`` (forwards or backwards)."""
        if instant.tzinfo is None:
            raise ValueError(f"{instant.isoformat()} has no time zone")
        self._now = instant.astimezone(UTC)

    def advance(self, delta: timedelta) -> None:
        """Move forwards by ``delta``."""
        self._now += delta
