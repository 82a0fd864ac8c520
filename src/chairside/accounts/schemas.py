"""Request and response bodies of the accounts API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator

from chairside.bounds import CleanStr
from chairside.shops.schemas import check_timezone


class RegisterIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: EmailStr = Field(max_length=320)
    password: CleanStr = Field(min_length=1, max_length=256)
    full_name: CleanStr = Field(min_length=1, max_length=200)
    role: Literal["client", "provider", "owner"] = "client"


class RegisteredOut(BaseModel):
    status: Literal["accepted"] = "accepted"
    email: str
    role: str
    detail: str = (
        "registration accepted: log in with this e-mail and the password you chose; if the "
        "address already had an account, its owner has been told by e-mail instead"
    )


class LoginIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: CleanStr = Field(min_length=3, max_length=320)
    password: CleanStr = Field(min_length=1, max_length=256)


class RefreshIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    refresh_token: CleanStr = Field(min_length=10, max_length=4096)


class LogoutIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    refresh_token: CleanStr | None = Field(default=None, max_length=4096)


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    email: str
    full_name: str
    role: str
    timezone: str | None = None
    phone: str | None = None
    created_at: datetime


class ContactPatch(BaseModel):
    """Where reminders reach the caller; a field sent as null clears it."""

    model_config = ConfigDict(extra="forbid")

    timezone: str | None = Field(
        default=None,
        max_length=64,
        description="IANA time zone for reminders' quiet hours; null: each shop's zone",
    )
    phone: str | None = Field(
        default=None,
        pattern=r"^\+[1-9][0-9]{6,14}$",
        description="E.164 number (e.g. +4915112345678) for SMS reminders; null: none",
    )

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str | None) -> str | None:
        return None if value is None else check_timezone(value)


class TokensOut(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int
    user: UserOut


class LoggedOutEverywhereOut(BaseModel):
    tokens_valid_after: datetime
