"""A shop's calendar: its bookings for one local day or one ISO week, and the same as CSV.

One query builds the :class:`Calendar`; the owner's web pages, the JSON API and the CSV
all render that one object, so the calendar and its CSV never disagree. Days are the
shop's calendar days (its time zone, DST included): a booking belongs to the local day it
starts on. Expired holds are left out (a hold that ran out never was an appointment);
every other status is shown, cancelled and no-shows included, because the owner's books
need them.

Only the shop's owner (or an admin) reads it; for anyone else the shop does not exist.
"""

from __future__ import annotations

import csv
import io
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from chairside.accounts.models import User
from chairside.accounts.principal import Principal
from chairside.booking import availability, transitions
from chairside.booking.models import Booking
from chairside.shops import service as shops
from chairside.shops.models import Provider, Service

Span = Literal["day", "week"]
SPANS: tuple[Span, ...] = ("day", "week")

CSV_COLUMNS = (
    "booking_id",
    "date",
    "starts",
    "ends",
    "timezone",
    "provider",
    "client",
    "service",
    "status",
    "price_minor",
    "currency",
    "note",
)
# A spreadsheet runs a cell starting with one of these as a formula (CSV injection): a
# client who calls themself "=HYPERLINK(…)" must not run anything on the owner's machine.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class CalendarEntry:
    """One booking as the calendar shows it; times are in the shop's time zone."""

    booking_id: uuid.UUID
    provider_id: uuid.UUID
    provider_name: str
    client_name: str
    service_name: str
    status: str
    starts_at: datetime
    ends_at: datetime
    price_minor: int
    currency: str
    note: str
    # Complete / no-show may be pressed now (confirmed and started: transitions.may_finish).
    finishable: bool

    @property
    def day(self) -> date:
        """The shop-local day the booking starts on."""
        return self.starts_at.date()


@dataclass(frozen=True)
class Calendar:
    """A shop's bookings between two local dates (inclusive), soonest first."""

    shop_id: uuid.UUID
    shop_name: str
    timezone: str
    span: Span
    first_day: date
    last_day: date
    entries: list[CalendarEntry]

    def days(self) -> list[tuple[date, list[CalendarEntry]]]:
        """Every local day of the span with its entries (empty days included)."""
        count = (self.last_day - self.first_day).days + 1
        days = [self.first_day + timedelta(days=i) for i in range(count)]
        return [(d, [e for e in self.entries if e.day == d]) for d in days]


def span_bounds(day: date, span: Span) -> tuple[date, date]:
    """The first and last local date of the day, or of the ISO week (Monday to Sunday)."""
    if span == "day":
        return day, day
    monday = day - timedelta(days=day.weekday())
    return monday, monday + timedelta(days=6)


def shop_calendar(
    *,
    session: Session,
    actor: Principal,
    shop_id: uuid.UUID,
    day: date,
    span: Span = "day",
    now: datetime | None = None,
) -> Calendar:
    """The bookings of a shop's providers on ``day`` or in its ISO week, in the shop's zone."""
    shop = shops.owned_shop(session=session, actor=actor, shop_id=shop_id)
    now = now or datetime.now(UTC)
    zone = ZoneInfo(shop.timezone)
    first, last = span_bounds(day, span)
    window_start = availability.local_day_bounds(first, zone)[0]
    window_end = availability.local_day_bounds(last, zone)[1]
    rows = session.execute(
        select(Booking, Provider.name, Service.name, User.full_name)
        .join(Provider, Provider.id == Booking.provider_id)
        .join(Service, Service.id == Booking.service_id)
        .join(User, User.id == Booking.client_id)
        .where(
            Booking.shop_id == shop.id,
            Booking.status != "expired",
            Booking.starts_at >= window_start,
            Booking.starts_at < window_end,
        )
        .order_by(Booking.starts_at, Provider.name, Booking.id)
    ).all()
    entries = [
        CalendarEntry(
            booking_id=booking.id,
            provider_id=booking.provider_id,
            provider_name=provider_name,
            client_name=client_name or "(no name)",
            service_name=service_name,
            status=booking.status,
            starts_at=booking.starts_at.astimezone(zone),
            ends_at=booking.ends_at.astimezone(zone),
            price_minor=booking.price_minor,
            currency=booking.currency,
            note=booking.note,
            finishable=transitions.may_finish(booking, now=now),
        )
        for booking, provider_name, service_name, client_name in rows
    ]
    return Calendar(
        shop_id=shop.id,
        shop_name=shop.name,
        timezone=shop.timezone,
        span=span,
        first_day=first,
        last_day=last,
        entries=entries,
    )


def calendar_csv(calendar: Calendar) -> str:
    """The calendar's entries as CSV (RFC 4180, a header row, shop-local times)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for e in calendar.entries:
        writer.writerow(
            [
                str(e.booking_id),
                e.day.isoformat(),
                e.starts_at.isoformat(),
                e.ends_at.isoformat(),
                calendar.timezone,
                _cell(e.provider_name),
                _cell(e.client_name),
                _cell(e.service_name),
                e.status,
                str(e.price_minor),
                e.currency,
                _cell(e.note),
            ]
        )
    return out.getvalue()


def csv_filename(calendar: Calendar) -> str:
    """A download name saying what the file holds: ``calendar-<span>-<first day>.csv``."""
    return f"calendar-{calendar.span}-{calendar.first_day.isoformat()}.csv"


def _cell(text: str) -> str:
    return "'" + text if text.startswith(_FORMULA_STARTS) else text
