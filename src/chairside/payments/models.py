"""Tables of payments: charges, refunds, received webhook events, the simulated outbox."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, String, text
from sqlalchemy.orm import Mapped, mapped_column

from chairside.db import Base


class Payment(Base):
    """One charge for a booking at a payment provider, and how much of it was refunded."""

    __tablename__ = "payments"

    id: Mapped[uuid.UUID] = mapped_column(
        primary_key=True, server_default=text("gen_random_uuid()")
    )
    booking_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("bookings.id"))
    provider: Mapped[str] = mapped_column(String)
    provider_ref: Mapped[str] = mapped_column(String)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    refunded_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String)
    failure_reason: Mapped[str | None] = mapped_column(String)
    card_last4: Mapped[str | None] = mapped_column(String)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=text("now()")
    )
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=text("now()")
    )


class Refund(Base):
    """Money given back on a payment, in full or in part."""

    __tablename__ = "refunds"

    id: Mapped[uuid.UUID] = mapped_column(
        primary_key=True, server_default=text("gen_random_uuid()")
    )
    payment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("payments.id"))
    provider_ref: Mapped[str] = mapped_column(String)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(String)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=text("now()")
    )


class WebhookEvent(Base):
    """A webhook event already processed; the unique (provider, event_id) de-duplicates."""

    __tablename__ = "webhook_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    provider: Mapped[str] = mapped_column(String)
    event_id: Mapped[str] = mapped_column(String)
    type: Mapped[str] = mapped_column(String)
    provider_ref: Mapped[str | None] = mapped_column(String)
    outcome: Mapped[str] = mapped_column(String, default="")
    received_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=text("now()")
    )


class SimulatedWebhook(Base):
    """A signed webhook the simulated processor owes the app, delivered after a delay."""

    __tablename__ = "simulated_webhook_outbox"

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[str] = mapped_column(String, unique=True)
    body: Mapped[str] = mapped_column(String)
    deliver_after: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(default=0)
