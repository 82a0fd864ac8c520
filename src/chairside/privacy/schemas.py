"""Request and response bodies of the data-rights API."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from chairside.bounds import CleanStr

KEPT = (
    "Your bookings stay in the shops' books without your name, e-mail or notes (times, "
    "service, price and payments are the shop's records); review ratings stay without their "
    "text; the audit trail keeps its entries with your personal values redacted."
)


class DeleteAccountIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    password: CleanStr = Field(
        min_length=1, max_length=256, description="The account's password, asked again"
    )


class AccountDeletedOut(BaseModel):
    user_id: uuid.UUID
    anonymised_at: datetime | None
    already_anonymised: bool
    bookings_kept: int
    reviews_kept: int
    kept: str = KEPT
