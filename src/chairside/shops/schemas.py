"""Request and response bodies of the shops API."""

from __future__ import annotations

import uuid
from datetime import datetime, time
from functools import lru_cache
from typing import Annotated
from zoneinfo import available_timezones

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from chairside.bounds import CleanStr, Instant, Latitude, Longitude, Money, WallTime


@lru_cache(maxsize=1)
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


REMINDER_LEAD_MIN = 15
REMINDER_LEAD_MAX = 7 * 24 * 60
REMINDER_LEADS_MAX = 4
ReminderLead = Annotated[
    int,
    Field(
        ge=REMINDER_LEAD_MIN,
        le=REMINDER_LEAD_MAX,
        description="Minutes before the booking; whole days mean the same wall-clock time",
    ),
]


def check_reminder_leads(value: list[int] | None) -> list[int] | None:
    """Distinct lead times, longest first, or ValueError naming the repeated one."""
    if value is None:
        return None
    repeated = sorted({lead for lead in value if value.count(lead) > 1})
    if repeated:
        raise ValueError(f"lead time {repeated[0]} is listed twice; list each lead time once")
    return sorted(value, reverse=True)


def check_timezone(value: str) -> str:
    """An IANA time zone name, or ValueError naming the bad one."""
    if value not in _zones():
        raise ValueError(f"unknown time zone {value!r}; use an IANA name such as 'Europe/Berlin'")
    return value


class ShopIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: CleanStr = Field(min_length=1, max_length=200)
    address: CleanStr = Field(default="", max_length=500)
    latitude: Latitude
    longitude: Longitude
    timezone: str = Field(max_length=64, description="IANA time zone, e.g. Europe/Berlin")
    currency: str = Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 code, e.g. EUR")
    free_cancel_hours: int = Field(default=24, ge=0, le=24 * 30)
    late_cancel_fee_minor: Money = 0
    min_notice_minutes: int = Field(default=60, ge=0, le=60 * 24 * 30)
    slot_step_minutes: int = Field(default=15, ge=5, le=240)
    reminder_lead_minutes: list[ReminderLead] = Field(
        default_factory=lambda: [1440, 120],
        max_length=REMINDER_LEADS_MAX,
        description=(
            f"When reminders go out, in minutes before the booking ({REMINDER_LEAD_MIN} to "
            f"{REMINDER_LEAD_MAX}, at most {REMINDER_LEADS_MAX}; [] for none)"
        ),
    )
    reminder_quiet_start: WallTime = Field(
        default=time(21, 0), description="Quiet hours begin (client's local time)"
    )
    reminder_quiet_end: WallTime = Field(
        default=time(8, 0), description="Quiet hours end (client's local time); = start: none"
    )

    _tz = field_validator("timezone")(check_timezone)
    _leads = field_validator("reminder_lead_minutes")(check_reminder_leads)


class ShopPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: CleanStr | None = Field(default=None, min_length=1, max_length=200)
    address: CleanStr | None = Field(default=None, max_length=500)
    latitude: Latitude | None = None
    longitude: Longitude | None = None
    timezone: str | None = Field(default=None, max_length=64)
    free_cancel_hours: int | None = Field(default=None, ge=0, le=24 * 30)
    late_cancel_fee_minor: Money | None = None
    min_notice_minutes: int | None = Field(default=None, ge=0, le=60 * 24 * 30)
    slot_step_minutes: int | None = Field(default=None, ge=5, le=240)
    reminder_lead_minutes: list[ReminderLead] | None = Field(
        default=None, max_length=REMINDER_LEADS_MAX
    )
    reminder_quiet_start: WallTime | None = None
    reminder_quiet_end: WallTime | None = None

    _leads = field_validator("reminder_lead_minutes")(check_reminder_leads)

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str | None) -> str | None:
        return None if value is None else check_timezone(value)


class ShopOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    owner_id: uuid.UUID
    name: str
    address: str
    latitude: float
    longitude: float
    timezone: str
    currency: str
    free_cancel_hours: int
    late_cancel_fee_minor: int
    min_notice_minutes: int
    slot_step_minutes: int
    reminder_lead_minutes: list[int]
    reminder_quiet_start: WallTime
    reminder_quiet_end: WallTime
    created_at: datetime


class ProviderIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: CleanStr = Field(min_length=1, max_length=200)
    user_email: CleanStr | None = Field(
        default=None,
        max_length=320,
        description="Link a registered provider account, by its e-mail.",
    )
    service_ids: list[uuid.UUID] = Field(default_factory=list, max_length=200)


class ProviderOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    shop_id: uuid.UUID
    user_id: uuid.UUID | None
    name: str
    active: bool
    service_ids: list[uuid.UUID] = []


class ServiceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: CleanStr = Field(min_length=1, max_length=200)
    duration_minutes: int = Field(ge=5, le=720)
    price_minor: Money = Field(description="Price in minor units of the shop's currency")
    buffer_before_minutes: int = Field(default=0, ge=0, le=240)
    buffer_after_minutes: int = Field(default=0, ge=0, le=240)


class ServiceOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    shop_id: uuid.UUID
    name: str
    duration_minutes: int
    price_minor: int
    currency: str = ""
    buffer_before_minutes: int
    buffer_after_minutes: int
    active: bool


class ProviderServicesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    service_ids: list[uuid.UUID] = Field(max_length=200)


class Interval(BaseModel):
    model_config = ConfigDict(extra="forbid")

    start: WallTime
    end: WallTime

    @model_validator(mode="after")
    def _ordered(self) -> Interval:
        if self.end <= self.start:
            raise ValueError(f"end {self.end} must be after start {self.start}")
        return self


class DayHours(BaseModel):
    model_config = ConfigDict(extra="forbid")

    weekday: int = Field(ge=0, le=6, description="0 = Monday … 6 = Sunday")
    start: WallTime
    end: WallTime
    breaks: list[Interval] = Field(default_factory=list, max_length=10)

    @model_validator(mode="after")
    def _ordered(self) -> DayHours:
        if self.end <= self.start:
            raise ValueError(f"end {self.end} must be after start {self.start}")
        for item in self.breaks:
            if item.start < self.start or item.end > self.end:
                raise ValueError(
                    f"break {item.start}-{item.end} lies outside the hours {self.start}-{self.end}"
                )
        return self


class WeeklyHoursIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    days: list[DayHours] = Field(max_length=7 * 4)


class WeeklyHoursOut(BaseModel):
    provider_id: uuid.UUID
    days: list[DayHours]


class TimeOffIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    starts_at: Instant
    ends_at: Instant
    reason: CleanStr = Field(default="", max_length=500)

    @model_validator(mode="after")
    def _valid(self) -> TimeOffIn:
        if self.starts_at.tzinfo is None or self.ends_at.tzinfo is None:
            raise ValueError("starts_at and ends_at need a UTC offset, e.g. 2026-12-24T00:00:00Z")
        if self.ends_at <= self.starts_at:
            raise ValueError(f"ends_at {self.ends_at} must be after starts_at {self.starts_at}")
        return self


class TimeOffOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    provider_id: uuid.UUID
    starts_at: datetime
    ends_at: datetime
    reason: str
