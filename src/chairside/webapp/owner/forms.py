"""Turning the owner pages' form fields into the API's schemas, and the schemas' answers back.

Every owner form is validated by the SAME Pydantic schema as the JSON API
(``shops/schemas.py``) and written by the SAME service function; this module only moves
values between the shapes a person types (a price as ``25.00``, a local date and time)
and the shapes the schemas take (minor units, an aware instant), and moves each error
onto the form field it is about. It holds no rule of its own.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError
from starlette.datastructures import FormData

from chairside.errors import ChairsideError
from chairside.shops import schemas
from chairside.webapp.render import FormErrors

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONEY = re.compile(r"^\s*(\d{1,9})(?:[.,](\d{1,2}))?\s*$")


class Unparsed(ValueError):
    """A value that is not even in the shape the field asks for (a price like ``abc``)."""


def form_values(form: FormData) -> dict[str, str]:
    """The submitted fields as strings (a repeated field keeps its first value)."""
    return {key: value for key, value in form.items() if isinstance(value, str)}


def minor_units(text: str) -> int:
    """``25``, ``25.5`` or ``25,50`` as minor units (2 decimals); Unparsed otherwise."""
    found = _MONEY.match(text)
    if found is None:
        raise Unparsed("enter an amount like 25 or 25.50")
    whole, cents = found.group(1), (found.group(2) or "0").ljust(2, "0")
    return int(whole) * 100 + int(cents)


def money(minor: int, currency: str) -> str:
    """Minor units as a person reads them: ``25.00 EUR``."""
    try:
        amount = Decimal(minor) / 100
    except InvalidOperation:  # pragma: no cover (ints always convert)
        return f"{minor} {currency}"
    return f"{amount:.2f} {currency}"


def money_field(minor: int) -> str:
    """Minor units as the form shows them: ``25.00``."""
    return f"{Decimal(minor) / 100:.2f}"


def local_instant(day: str, clock: str, zone: ZoneInfo) -> datetime:
    """A shop-local date and time of day as an aware instant; Unparsed when malformed."""
    try:
        parsed_day = date.fromisoformat(day.strip())
    except ValueError:
        raise Unparsed("enter a date like 2027-03-28") from None
    try:
        parsed_time = time.fromisoformat(clock.strip()) if clock.strip() else time(0)
    except ValueError:
        raise Unparsed("enter a time like 09:30") from None
    return datetime.combine(parsed_day, parsed_time, tzinfo=zone)


def validation_errors(
    error: ValidationError,
    *,
    fields: Mapping[str, str] | None = None,
    labels: Mapping[str, str] | None = None,
    whole: str = "",
) -> FormErrors:
    """A schema's errors on the form's fields.

    ``fields`` renames a schema field to its form field (``late_cancel_fee_minor`` is
    typed as ``late_cancel_fee``); an error about the whole model (``end must be after
    start``) goes on the ``whole`` field.
    """
    found = FormErrors.from_validation(error, labels=labels)
    moved = FormErrors()
    for name, message in found.messages.items():
        moved.add((fields or {}).get(name, name) if name else whole, message)
    return moved


def service_errors(
    error: ChairsideError, *, fields: Mapping[str, str] | None = None, whole: str = ""
) -> FormErrors:
    """A service's refusal on the form field it names (``whole`` when it names none)."""
    found = FormErrors.from_error(error, field=whole)
    return FormErrors(
        {(fields or {}).get(name, name) or whole: msg for name, msg in found.messages.items()}
    )


# --- weekly hours ---------------------------------------------------------------------
# One row per weekday: the hours, an optional break inside them, and optional second hours
# (a split day). Field names: d<weekday>_start, _end, _break_start, _break_end, _start2,
# _end2. An empty row is a day off.
HOURS_PARTS = ("start", "end", "break_start", "break_end", "start2", "end2")


def hours_field(weekday: int, part: str) -> str:
    """The form field of one part of a weekday's row."""
    return f"d{weekday}_{part}"


def hours_values(days: list[schemas.DayHours]) -> dict[str, str]:
    """A provider's weekly hours as the form's values."""
    values: dict[str, str] = {}
    for day in days:
        first = hours_field(day.weekday, "start") not in values
        suffix = "" if first else "2"
        values[hours_field(day.weekday, f"start{suffix}")] = day.start.strftime("%H:%M")
        values[hours_field(day.weekday, f"end{suffix}")] = day.end.strftime("%H:%M")
        if first and day.breaks:
            values[hours_field(day.weekday, "break_start")] = day.breaks[0].start.strftime("%H:%M")
            values[hours_field(day.weekday, "break_end")] = day.breaks[0].end.strftime("%H:%M")
    return values


def parse_hours(values: Mapping[str, str]) -> tuple[list[schemas.DayHours], FormErrors]:
    """The form's rows as the schema's days, each error on the field it is about."""
    days: list[schemas.DayHours] = []
    errors = FormErrors()
    for weekday, label in enumerate(WEEKDAYS):

        def get(part: str, weekday: int = weekday) -> str:
            return values.get(hours_field(weekday, part), "").strip()

        for start_part, end_part, break_parts in (
            ("start", "end", ("break_start", "break_end")),
            ("start2", "end2", None),
        ):
            start, end = get(start_part), get(end_part)
            breaks = [get(p) for p in break_parts] if break_parts else ["", ""]
            if not start and not end and not any(breaks):
                continue
            if not start or not end:
                missing = start_part if not start else end_part
                errors.add(
                    hours_field(weekday, missing),
                    f"{label}: enter both the start and the end, or neither for a day off.",
                )
                continue
            raw: dict[str, Any] = {"weekday": weekday, "start": start, "end": end}
            if any(breaks):
                assert break_parts is not None
                if not all(breaks):
                    missing = break_parts[0] if not breaks[0] else break_parts[1]
                    errors.add(
                        hours_field(weekday, missing),
                        f"{label}: enter both ends of the break, or neither.",
                    )
                    continue
                raw["breaks"] = [{"start": breaks[0], "end": breaks[1]}]
            try:
                days.append(schemas.DayHours.model_validate(raw))
            except ValidationError as exc:
                for item in exc.errors():
                    location = [str(p) for p in item.get("loc", ())]
                    if location and location[0] == "breaks":
                        field = hours_field(weekday, "break_start")
                    elif location and location[0] in ("start", "end"):
                        suffix = "2" if start_part == "start2" else ""
                        field = hours_field(weekday, location[0] + suffix)
                    else:  # the whole row: end before start, a break outside the hours
                        message = str(item.get("msg", ""))
                        field = hours_field(
                            weekday,
                            break_parts[0] if "break" in message and break_parts else end_part,
                        )
                    text = str(item.get("msg", "invalid")).removeprefix("Value error, ")
                    errors.add(field, f"{label}: {text}.")
    return days, errors


def overlap_field(error: ChairsideError) -> str:
    """The field of the weekday whose hours overlap (the service names the weekday)."""
    weekday = error.details.get("weekday")
    if isinstance(weekday, int) and 0 <= weekday <= 6:
        return hours_field(weekday, "start2")
    return ""
