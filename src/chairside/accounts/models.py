"""Tables of accounts: users and revoked token ids."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, String, text
from sqlalchemy.orm import Mapped, mapped_column

from chairside.db import Base

ROLES = ("client", "provider", "owner", "admin")


class User(Base):
    """Someone who logs in: a client, a provider (staff), a shop owner or an admin."""

    __tablename__ = "users"

    id: Mapped[uuid.UUID] = mapped_column(
        primary_key=True, server_default=text("gen_random_uuid()")
    )
    email: Mapped[str] = mapped_column(String)
    full_name: Mapped[str] = mapped_column(String)
    password_hash: Mapped[str] = mapped_column(String)
    role: Mapped[str] = mapped_column(String)
    # "Log out everywhere": tokens issued at or before this moment are refused.
    tokens_valid_after: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Where reminders reach the client (migration 0007): an IANA zone (None: the zone of
    # the booking's shop) for quiet hours, and an E.164 phone number for SMS gateways.
    timezone: Mapped[str | None] = mapped_column(String, default=None)
    phone: Mapped[str | None] = mapped_column(String, default=None)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=text("now()")
    )
    # When a token pair was last issued (log in, refresh): the retention job's activity.
    last_seen_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Set when the account's personal data was removed (privacy/anonymisation.py).
    anonymised_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class TokenRevocation(Base):
    """A token id that was logged out; kept until the token would have expired anyway."""

    __tablename__ = "token_revocations"

    jti: Mapped[str] = mapped_column(primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=text("now()")
    )


class RefreshToken(Base):
    """An issued refresh token, in the family of rotations that began at one login."""

    __tablename__ = "refresh_tokens"

    jti: Mapped[str] = mapped_column(primary_key=True)
    family_id: Mapped[uuid.UUID]
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    access_jti: Mapped[str]
    access_expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    issued_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=text("now()")
    )
    rotated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
