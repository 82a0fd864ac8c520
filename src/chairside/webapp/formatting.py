"""How pages show money and times: minor units as amounts, instants in the shop's zone."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

# ISO 4217 currencies without minor units (the rest here have two).
ZERO_DECIMAL = frozenset({"JPY", "KRW", "VND", "CLP", "ISK", "HUF"})


def money(minor: int, currency: str) -> str:
    """``2500, "EUR"`` → ``"25.00 EUR"``."""
    if currency.upper() in ZERO_DECIMAL:
        return f"{minor:,} {currency}"
    return f"{minor / 100:,.2f} {currency}"


def local_time(instant: datetime, timezone: str) -> str:
    """``"Mon 14 Dec 2026, 10:30"`` in ``timezone``."""
    return instant.astimezone(ZoneInfo(timezone)).strftime("%a %d %b %Y, %H:%M")


def clock(instant: datetime, timezone: str) -> str:
    """``"10:30"`` in ``timezone``."""
    return instant.astimezone(ZoneInfo(timezone)).strftime("%H:%M")


def local_date(instant: datetime, timezone: str) -> str:
    """The ``YYYY-MM-DD`` of ``instant`` in ``timezone``."""
    return instant.astimezone(ZoneInfo(timezone)).date().isoformat()


def day_label(day: date) -> str:
    """``"Mon 14 Dec"``."""
    return day.strftime("%a %d %b")


FILTERS = {
    "money": money,
    "local_time": local_time,
    "local_date": local_date,
    "clock": clock,
    "day_label": day_label,
}
