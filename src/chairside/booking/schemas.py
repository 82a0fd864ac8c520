"""Request and response bodies of the bookings, availability, search and reviews API."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field

from chairside.bounds import CleanStr, Instant


class BookingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    provider_id: uuid.UUID
    service_id: uuid.UUID
    starts_at: Instant
    note: CleanStr = Field(default="", max_length=500)


class RescheduleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    starts_at: Instant


class CancelIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: CleanStr = Field(default="", max_length=500)


class PaymentSummary(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    provider: str
    status: str
    amount_minor: int
    refunded_minor: int
    currency: str
    failure_reason: str | None
    card_last4: str | None


class BookingOut(BaseModel):
    id: uuid.UUID
    shop_id: uuid.UUID
    provider_id: uuid.UUID
    service_id: uuid.UUID
    client_id: uuid.UUID
    status: str
    starts_at: datetime = Field(description="In the shop's time zone, with its offset")
    ends_at: datetime
    timezone: str
    price_minor: int
    currency: str
    hold_expires_at: datetime | None
    cancellation_fee_minor: int | None
    note: str
    version: int
    created_at: datetime
    payments: list[PaymentSummary] = []


class AvailabilityOut(BaseModel):
    provider_id: uuid.UUID
    service_id: uuid.UUID
    timezone: str
    from_date: date = Field(alias="from")
    to_date: date = Field(alias="to")
    duration_minutes: int = Field(description="How long an appointment at each slot lasts")
    slots: list[datetime] = Field(
        description="Free start times in the shop's time zone, ISO 8601 with offset, ascending"
    )

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)


class SearchResultOut(BaseModel):
    provider_id: uuid.UUID
    provider_name: str
    shop_id: uuid.UUID
    shop_name: str
    service_id: uuid.UUID
    service_name: str
    price_minor: int
    currency: str
    distance_km: float
    timezone: str
    next_free_slot: datetime | None


class ReviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rating: int = Field(ge=1, le=5)
    text: CleanStr = Field(default="", max_length=1000)


class ReviewOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    booking_id: uuid.UUID
    provider_id: uuid.UUID
    rating: int
    text: str
    created_at: datetime


class CalendarEntryOut(BaseModel):
    booking_id: uuid.UUID
    provider_id: uuid.UUID
    provider_name: str
    client_name: str
    service_name: str
    status: str
    starts_at: datetime = Field(description="In the shop's time zone, with its offset")
    ends_at: datetime
    price_minor: int
    currency: str
    note: str
    finishable: bool = Field(description="Complete / no-show may be marked now")


class CalendarOut(BaseModel):
    shop_id: uuid.UUID
    shop_name: str
    timezone: str
    span: str = Field(description="day, or week (ISO week, Monday to Sunday)")
    first_day: date
    last_day: date
    entries: list[CalendarEntryOut]
