"""Input bounds in one place: the Pydantic types every request schema is built from.

Anything a client sends passes one of these types before a service sees it, so a value
Python, PostgreSQL or the arithmetic after them cannot hold becomes a 422 naming the
field and what is allowed, never a 500:

- ``Instant``: an aware date-time between :data:`INSTANT_MIN` and :data:`INSTANT_MAX`
  (year 1 or 9999 overflow as soon as a time zone or a duration is applied);
- ``LocalDate``: a calendar date in the same years;
- ``WallTime``: a shop-local time of day, ``HH:MM`` or ``HH:MM:SS`` (documented as a
  pattern: JSON Schema's ``format: time`` demands an offset a wall time does not have);
- ``Money`` / ``PositiveMoney``: minor units up to :data:`MONEY_MAX_MINOR`;
- ``CleanStr``: a string without NUL or other control characters (PostgreSQL refuses
  NUL) and without lone surrogates (not encodable as UTF-8); its length bound by ``Field``;
- ``Latitude`` / ``Longitude``: finite degrees; ``RadiusKm``: a sane search radius;
- ``Offset`` / ``RowId``: paging numbers that fit PostgreSQL's bigint.

Migration 0004 repeats the bounds as CHECK constraints (NOT VALID: rows stored before
stay readable and deletable), the backstop for writes that bypass these types.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time
from typing import Annotated, Any

from pydantic import AfterValidator, Field, WithJsonSchema
from sqlalchemy import DateTime, func, literal
from sqlalchemy.sql.elements import ColumnElement

INSTANT_MIN = datetime(2000, 1, 1, tzinfo=UTC)
INSTANT_MAX = datetime(2100, 1, 1, tzinfo=UTC)
DATE_MIN = date(2000, 1, 1)
DATE_MAX = date(2099, 12, 31)
# Minor units: 1,000,000.00 in a two-decimal currency. No shop charges more for a visit,
# and sums of many such amounts stay far inside PostgreSQL's bigint.
MONEY_MAX_MINOR = 100_000_000
MAX_OFFSET = 100_000
BIGINT_MAX = 2**63 - 1
MIN_RADIUS_KM = 0.1
MAX_RADIUS_KM = 200.0

_INSTANT_RULE = (
    f"an ISO 8601 date-time with a UTC offset between {INSTANT_MIN:%Y-%m-%d} and "
    f"{INSTANT_MAX:%Y-%m-%d} (UTC)"
)
# C0 controls but tab, new line and carriage return; DEL; lone surrogates.
_FORBIDDEN = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


def check_instant(value: datetime) -> datetime:
    """An aware instant inside the bounds, or ValueError stating them."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"needs a UTC offset, e.g. 2027-03-28T09:00:00+02:00 or …Z; {_rule()}")
    # Compare the wall year first: converting year 1 or 9999 to UTC can itself overflow.
    if not DATE_MIN.year - 1 <= value.year <= DATE_MAX.year + 1:
        raise ValueError(f"{value.isoformat()} is out of range; {_rule()}")
    if not INSTANT_MIN <= value <= INSTANT_MAX:
        raise ValueError(f"{value.isoformat()} is out of range; {_rule()}")
    return value


def _rule() -> str:
    return f"allowed: {_INSTANT_RULE}"


def check_date(value: date) -> date:
    """A date inside the bounds, or ValueError stating them."""
    if not DATE_MIN <= value <= DATE_MAX:
        raise ValueError(f"{value.isoformat()} is out of range; allowed: {DATE_MIN} to {DATE_MAX}")
    return value


def check_wall_time(value: time) -> time:
    """A time of day without an offset or fractions of a second."""
    if value.tzinfo is not None:
        raise ValueError(
            f"{value.isoformat()} has an offset; hours are the shop's wall-clock times (HH:MM)"
        )
    if value.microsecond:
        raise ValueError(f"{value.isoformat()} has fractions of a second; use HH:MM or HH:MM:SS")
    return value


def check_text(value: str) -> str:
    """A string without NUL, control characters (but tab and new lines) or lone surrogates."""
    bad = _FORBIDDEN.search(value)
    if bad is not None:
        raise ValueError(
            f"contains the character U+{ord(bad.group()):04X} at position {bad.start()}; "
            "allowed: printable text, tabs and new lines (no NUL, control characters or "
            "lone surrogates)"
        )
    return value


CleanStr = Annotated[str, AfterValidator(check_text)]
"""A string without NUL, control characters or lone surrogates; bound its length with
``Field``: ``name: CleanStr = Field(min_length=1, max_length=200)``."""


Instant = Annotated[
    datetime,
    AfterValidator(check_instant),
    Field(description=_INSTANT_RULE),
]
LocalDate = Annotated[
    date,
    AfterValidator(check_date),
    Field(description=f"A calendar date between {DATE_MIN} and {DATE_MAX}"),
]
WallTime = Annotated[
    time,
    AfterValidator(check_wall_time),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": r"^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?$",
            "description": "Shop-local wall-clock time, HH:MM or HH:MM:SS",
            "examples": ["09:00", "17:30:00"],
        }
    ),
]
Money = Annotated[
    int,
    Field(
        ge=0,
        le=MONEY_MAX_MINOR,
        description=f"Minor units of the currency (0 to {MONEY_MAX_MINOR})",
    ),
]
PositiveMoney = Annotated[
    int,
    Field(
        gt=0,
        le=MONEY_MAX_MINOR,
        description=f"Minor units of the currency (1 to {MONEY_MAX_MINOR})",
    ),
]
Latitude = Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False)]
Longitude = Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False)]
RadiusKm = Annotated[
    float,
    Field(
        ge=MIN_RADIUS_KM,
        le=MAX_RADIUS_KM,
        allow_inf_nan=False,
        description=f"Kilometres, {MIN_RADIUS_KM} to {MAX_RADIUS_KM}",
    ),
]
Offset = Annotated[int, Field(ge=0, le=MAX_OFFSET)]
RowId = Annotated[int, Field(ge=0, le=BIGINT_MAX)]


def clamped_instant(column: Any) -> ColumnElement[datetime]:
    """``column`` read clamped into the bounds.

    A row stored before the bounds existed (a time off from year 0) must stay readable:
    psycopg cannot load an instant before year 1, and one near it overflows as soon as a
    time zone is applied. Reading it as the nearest bound keeps its meaning for anything
    the API computes (it lies wholly before or after every bookable time).
    """
    floor = literal(INSTANT_MIN, DateTime(timezone=True))
    ceiling = literal(INSTANT_MAX, DateTime(timezone=True))
    return func.least(func.greatest(column, floor), ceiling, type_=DateTime(timezone=True))
