"""A provider's free times for one local day, as the availability pages show them.

Read through the same function as ``GET /api/v1/providers/{id}/availability``
(``booking.service.availability_json``: its cache, its replica reads), so a page and the
API never disagree about what is free.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from pydantic import TypeAdapter, ValidationError

from chairside.api.context import AppContext
from chairside.booking import service as bookings
from chairside.bounds import LocalDate
from chairside.db import transaction
from chairside.errors import InputError
from chairside.shops import service as shops
from chairside.shops.models import Provider, Service, Shop

DAYS_SHOWN = 14  # the day picker's links; any later day through its date field
_LOCAL_DATE: TypeAdapter[date] = TypeAdapter(LocalDate)


@dataclass(frozen=True)
class DayOfSlots:
    """What an availability page shows: who, which day, the free start times, the days."""

    shop: Shop
    provider: Provider
    service: Service
    day: date
    today: date
    slots: list[datetime]  # in the shop's zone
    days: list[date]

    @property
    def timezone(self) -> str:
        return self.shop.timezone


def parse_day(value: str | None, *, today: date) -> date:
    """The day asked for (``YYYY-MM-DD``), today when none; InputError on ``day`` otherwise."""
    if not value:
        return today
    try:
        day = _LOCAL_DATE.validate_python(value)
    except ValidationError:
        shown = value if len(value) <= 40 and value.isprintable() else "that value"
        raise InputError(
            f"{shown!r} is not a date; pick a day as YYYY-MM-DD", field="day"
        ) from None
    if day < today:
        raise InputError(
            f"{day.isoformat()} is in the past; pick today ({today.isoformat()}) or a later day",
            field="day",
        )
    return day


def shop_today(shop: Shop) -> date:
    """Today's date where the shop is."""
    return datetime.now(UTC).astimezone(ZoneInfo(shop.timezone)).date()


def day_of_slots(
    *,
    context: AppContext,
    provider_id: uuid.UUID,
    service_id: uuid.UUID,
    day: str | None,
) -> DayOfSlots:
    """The free times of one day (``day`` as asked; InputError on ``day`` when bad).

    Call it holding no connection: it reads in a transaction of its own, then through
    the availability cache (which may take one more); one at a time.
    """
    with transaction(context.sessions) as session:
        provider = shops.get_provider(session=session, provider_id=provider_id)
        service = shops.get_service(session=session, service_id=service_id)
        shop = shops.get_shop(session=session, shop_id=provider.shop_id)
    today = shop_today(shop)
    chosen = parse_day(day, today=today)
    return load_day(
        context=context, shop=shop, provider=provider, service=service, day=chosen, today=today
    )


def load_day(
    *, context: AppContext, shop: Shop, provider: Provider, service: Service, day: date, today: date
) -> DayOfSlots:
    """The free times of ``day`` (already checked)."""
    body = bookings.availability_json(
        sessions=context.sessions,
        cache=context.availability_cache,
        provider_id=provider.id,
        service_id=service.id,
        first_day=day,
        last_day=day,
        reads=context.reads,
    )
    slots = [datetime.fromisoformat(s) for s in json.loads(body)["slots"]]
    return DayOfSlots(
        shop=shop,
        provider=provider,
        service=service,
        day=day,
        today=today,
        slots=slots,
        days=[today + timedelta(days=n) for n in range(DAYS_SHOWN)],
    )
