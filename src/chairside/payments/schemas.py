"""Request and response bodies of the payments API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from chairside.bounds import CleanStr, PositiveMoney


class PayIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    payment_method: CleanStr = Field(
        min_length=1,
        max_length=200,
        description="simulated: a test card number; stripe: a PaymentMethod id",
    )
    provider: Literal["simulated", "stripe"] | None = Field(
        default=None, description="Default: the server's CHAIRSIDE_PAYMENT_PROVIDER"
    )


class RefundIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount_minor: PositiveMoney
    reason: CleanStr = Field(default="", max_length=500)


class RefundOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    payment_id: uuid.UUID
    provider_ref: str
    amount_minor: int
    reason: str
    created_at: datetime


class WebhookOut(BaseModel):
    received: bool = True
    outcome: str
