"""Tables of reminders: the outbox rows and their delivery attempts (migration 0007).

A reminder's life::

    pending ──claim──▶ sending ──channel took it──▶ sent
       ▲                  │ └──channel refused──▶ pending (retry later) or failed (no more)
       │                  └──lease ran out, outcome never recorded──▶ ambiguous
       ├── booking cancelled ─▶ cancelled
       ├── booking rescheduled ─▶ moved (a new row is written for the new start)
       └── booking started, never confirmed, or no address ─▶ skipped

``ambiguous`` is never retried by the worker: the message may have gone out, and a
reminder must never reach a client twice. ``chairside reminders status`` surfaces it.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, String
from sqlalchemy import text as sql
from sqlalchemy.orm import Mapped, mapped_column

from chairside.db import Base

STATUSES = ("pending", "sending", "sent", "failed", "ambiguous", "cancelled", "moved", "skipped")
OUTCOMES = ("sent", "failed", "ambiguous")


class Reminder(Base):
    """One message due before one booking, through one channel."""

    __tablename__ = "reminders"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, server_default=sql("gen_random_uuid()"))
    booking_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("bookings.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String)
    lead_minutes: Mapped[int]
    booking_starts_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String, default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    claim_token: Mapped[uuid.UUID | None]
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(String)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=sql("now()")
    )
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=sql("now()")
    )


class ReminderAttempt(Base):
    """One delivery attempt: when it started, and its outcome once known."""

    __tablename__ = "reminder_attempts"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    reminder_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("reminders.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String)
    attempt: Mapped[int]
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    outcome: Mapped[str | None] = mapped_column(String)
    error: Mapped[str | None] = mapped_column(String)
