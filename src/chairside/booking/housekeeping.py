"""Deleting booking-side rows that have outlived their purpose.

- token revocations of tokens that have expired anyway (a revoked, expired token is
  refused for its expiry alone), and refresh tokens (of every family) past their expiry;
- idempotency keys older than the retry window (clients retry within minutes; after
  the window a reused key simply makes a new booking);
- simulated webhooks delivered long ago.

Bookings, payments, refunds, webhook events and the audit log are records and are
never deleted here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from chairside.accounts.models import RefreshToken, TokenRevocation
from chairside.booking.models import IdempotencyKey
from chairside.errors import InputError
from chairside.payments.models import SimulatedWebhook


@dataclass(frozen=True)
class PurgeCounts:
    """How many rows of each kind are (or would be) deleted."""

    token_revocations: int
    idempotency_keys: int
    delivered_webhooks: int
    refresh_tokens: int

    def to_dict(self) -> dict[str, int]:
        return {
            "token_revocations": self.token_revocations,
            "idempotency_keys": self.idempotency_keys,
            "delivered_webhooks": self.delivered_webhooks,
            "refresh_tokens": self.refresh_tokens,
        }


def purge(*, session: Session, older_than_hours: int, now: datetime, dry_run: bool) -> PurgeCounts:
    """Delete (or count, on a dry run) rows older than ``older_than_hours``."""
    if older_than_hours < 1:
        raise InputError(
            f"--older-than-hours must be at least 1, got {older_than_hours}",
            field="older_than_hours",
        )
    cutoff = now - timedelta(hours=older_than_hours)
    conditions = (
        (TokenRevocation, TokenRevocation.expires_at < now),
        (IdempotencyKey, IdempotencyKey.created_at < cutoff),
        (
            SimulatedWebhook,
            SimulatedWebhook.delivered_at.is_not(None) & (SimulatedWebhook.delivered_at < cutoff),
        ),
        (RefreshToken, RefreshToken.expires_at < now),
    )
    counts = []
    for model, condition in conditions:
        if dry_run:
            found = session.scalar(select(func.count()).select_from(model).where(condition))
            counts.append(int(found or 0))
        else:
            result = session.execute(delete(model).where(condition))
            counts.append(int(getattr(result, "rowcount", 0) or 0))
    return PurgeCounts(*counts)
