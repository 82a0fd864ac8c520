"""Tables of bookings: bookings, idempotency keys, reviews.

``bookings_no_overlap`` (migration 0002) is the double-booking guarantee: an exclusion
constraint over ``tstzrange(buffered_starts_at, buffered_ends_at)`` per provider for the
live statuses below.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, SmallInteger, String
from sqlalchemy import text as sql
from sqlalchemy.orm import Mapped, mapped_column

from chairside.db import Base

STATUSES = ("pending_payment", "confirmed", "completed", "cancelled", "no_show", "expired")
# Statuses that hold a slot; the exclusion constraint's predicate lists the same ones.
LIVE_STATUSES = ("pending_payment", "confirmed")


class Booking(Base):
    """One appointment of a client with a provider for a service."""

    __tablename__ = "bookings"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, server_default=sql("gen_random_uuid()"))
    shop_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("shops.id"))
    provider_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("providers.id"))
    service_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("services.id"))
    client_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    status: Mapped[str] = mapped_column(String)
    starts_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ends_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    buffered_starts_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    buffered_ends_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    price_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    hold_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    cancellation_fee_minor: Mapped[int | None] = mapped_column(BigInteger)
    note: Mapped[str] = mapped_column(String, default="")
    version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=sql("now()")
    )
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=sql("now()")
    )


class IdempotencyKey(Base):
    """A client's Idempotency-Key, the hash of the request it came with, and its booking."""

    __tablename__ = "idempotency_keys"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), primary_key=True)
    key: Mapped[str] = mapped_column(primary_key=True)
    request_hash: Mapped[str]
    booking_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("bookings.id"))
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=sql("now()")
    )


class Review(Base):
    """A client's rating of a completed booking: one per booking."""

    __tablename__ = "reviews"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, server_default=sql("gen_random_uuid()"))
    booking_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("bookings.id"), unique=True)
    client_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    provider_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("providers.id"))
    rating: Mapped[int] = mapped_column(SmallInteger)
    text: Mapped[str] = mapped_column(String, default="")
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=sql("now()")
    )
