"""Delivering due reminders: claim one, hand it to its channel, record the answer.

**Exactly once, or surfaced.** A reminder must never reach a client twice, and no
transaction can span a gateway. So every attempt is three steps:

1. *claim* (one short transaction): the oldest due ``pending`` reminder of a confirmed
   booking, locked ``FOR UPDATE SKIP LOCKED`` (two workers never pick the same row), is
   marked ``sending`` with a fresh claim token and a lease (``CHAIRSIDE_REMINDER_LEASE_
   SECONDS``), and an attempt row is opened; committed *before* the channel is called;
2. *deliver*: the channel's answer, outside any transaction;
3. *record* (one short transaction, guarded by the claim token): ``sent``; or, when the
   gateway said no, ``pending`` again after a backoff (doubling, capped, out of the
   client's quiet hours) or ``failed`` after the last attempt or when no time is left
   before the booking.

A channel that cannot tell whether the gateway took the message (a read timeout) answers
``definite=False``: recorded ``ambiguous`` at once, like a worker that died. A worker
killed between 1 and 3 leaves a ``sending`` row whose lease runs out. The next
run marks it ``ambiguous`` and **does not send it again**: the gateway may or may not
have taken the message, and a duplicate reminder is worse than a missing one (the
client still has the booking confirmation and any other reminder). ``chairside
reminders status`` warns about ambiguous reminders and ``chairside_reminder_deliveries_
total{outcome="ambiguous"}`` counts them. Claiming one reminder at a time keeps that
window to a single message.

Bookings that were cancelled have no pending reminders (``outbox.cancel_pending``); a
reminder whose booking is still unpaid, expired or already started when it falls due is
``skipped`` once the booking has started.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Row, text
from sqlalchemy.orm import Session, sessionmaker

from chairside.clock import Clock
from chairside.db import transaction
from chairside.reminders import timing
from chairside.reminders.channel import DeliveryResult, ReminderChannel, ReminderMessage


@dataclass(frozen=True)
class Policy:
    """How the worker retries and how long a claim lasts."""

    lease: timedelta
    max_attempts: int
    backoff_seconds: float
    backoff_cap_seconds: float


@dataclass
class RunReport:
    """What one run did."""

    sent: int = 0
    retried: int = 0
    failed: int = 0
    ambiguous: int = 0
    skipped: int = 0
    no_channel: int = 0

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


_AMBIGUOUS = text(
    """
WITH lapsed AS (
    UPDATE reminders SET status = 'ambiguous', updated_at = now(),
        last_error = 'the worker stopped before recording the delivery; not sent again'
    WHERE status = 'sending' AND lease_until <= :now
    RETURNING id, claim_token
), attempts AS (
    UPDATE reminder_attempts a SET outcome = 'ambiguous', finished_at = :now
    FROM lapsed
    WHERE a.reminder_id = lapsed.id AND a.outcome IS NULL
)
SELECT count(*) FROM lapsed
"""
)

_SKIP = text(
    """
WITH skipped AS (
    UPDATE reminders r SET status = 'skipped', updated_at = now(),
        last_error = 'the booking started while ' || b.status
    FROM bookings b
    WHERE b.id = r.booking_id AND r.status = 'pending' AND b.starts_at <= :now
    RETURNING r.id
)
SELECT count(*) FROM skipped
"""
)

# The oldest due reminder of a confirmed booking, with what its message needs.
_CLAIM = text(
    """
WITH next AS (
    SELECT r.id FROM reminders r JOIN bookings b ON b.id = r.booking_id
    WHERE r.status = 'pending' AND r.next_attempt_at <= :now AND b.status = 'confirmed'
      AND b.starts_at > :now
    ORDER BY r.next_attempt_at
    LIMIT 1
    FOR UPDATE OF r SKIP LOCKED
), claimed AS (
    UPDATE reminders r SET status = 'sending', claim_token = :token,
        lease_until = :lease_until, attempts = r.attempts + 1, updated_at = now()
    FROM next WHERE r.id = next.id
    RETURNING r.*
), opened AS (
    INSERT INTO reminder_attempts (reminder_id, channel, attempt, started_at)
    SELECT id, channel, attempts, :now FROM claimed
)
SELECT c.id, c.channel, c.attempts, c.lead_minutes, b.starts_at, u.email, u.phone,
    u.timezone AS client_timezone, s.name AS shop_name, s.timezone AS shop_timezone,
    s.reminder_quiet_start, s.reminder_quiet_end, v.name AS service_name, p.name AS provider_name
FROM claimed c
JOIN bookings b ON b.id = c.booking_id
JOIN users u ON u.id = b.client_id
JOIN shops s ON s.id = b.shop_id
JOIN services v ON v.id = b.service_id
JOIN providers p ON p.id = b.provider_id
"""
)

_RECORD = text(
    """
WITH changed AS (
    UPDATE reminders SET status = :status, next_attempt_at = coalesce(:next, next_attempt_at),
        sent_at = CASE WHEN :status = 'sent' THEN :now ELSE sent_at END,
        last_error = :error, lease_until = NULL, updated_at = now()
    WHERE id = :id AND claim_token = :token AND status IN ('sending', 'ambiguous')
    RETURNING id
)
UPDATE reminder_attempts SET outcome = :outcome, finished_at = :now, error = :error
WHERE reminder_id = (SELECT id FROM changed) AND attempt = :attempt
"""
)


def _message(row: Row[Any], channel: str) -> ReminderMessage:
    shop_zone = ZoneInfo(row.shop_timezone)
    local = row.starts_at.astimezone(shop_zone)
    when = local.strftime("%A %d %B %Y at %H:%M")
    what = f"{row.service_name} with {row.provider_name} at {row.shop_name}"
    return ReminderMessage(
        reminder_id=row.id,
        channel=channel,
        email=row.email,
        phone=row.phone,
        title=f"Reminder: {row.service_name} on {local:%a %d %b at %H:%M}",
        body=f"Your booking: {what}, {when} ({row.shop_timezone}).",
    )


def sweep(*, sessions: sessionmaker[Session], now: datetime) -> tuple[int, int]:
    """Mark lapsed claims ambiguous and reminders of started bookings skipped."""
    with transaction(sessions) as session:
        ambiguous = int(session.execute(_AMBIGUOUS, {"now": now}).scalar_one())
        skipped = int(session.execute(_SKIP, {"now": now}).scalar_one())
    return ambiguous, skipped


def run_due(
    *,
    sessions: sessionmaker[Session],
    channels: Mapping[str, ReminderChannel],
    clock: Clock,
    policy: Policy,
    limit: int = 1000,
    should_stop: Callable[[], bool] = lambda: False,
) -> RunReport:
    """Deliver every reminder due by now (at most ``limit``), one at a time."""
    report = RunReport()
    report.ambiguous, report.skipped = sweep(sessions=sessions, now=clock.now())
    for _ in range(limit):
        if should_stop():
            break
        now = clock.now()
        token = uuid.uuid4()
        with transaction(sessions) as session:
            row = session.execute(
                _CLAIM, {"now": now, "token": token, "lease_until": now + policy.lease}
            ).first()
        if row is None:
            break
        channel = channels.get(row.channel)
        if channel is None:
            # Configured when the booking was made, gone since: nothing was sent.
            result = DeliveryResult(ok=False, error=f"no channel {row.channel!r} configured now")
            report.no_channel += 1
        else:
            result = channel.deliver(_message(row, row.channel))
        _record(
            sessions=sessions,
            row=row,
            token=token,
            result=result,
            clock=clock,
            policy=policy,
            report=report,
        )
    return report


def _record(
    *,
    sessions: sessionmaker[Session],
    row: Row[Any],
    token: uuid.UUID,
    result: DeliveryResult,
    clock: Clock,
    policy: Policy,
    report: RunReport,
) -> None:
    now = clock.now()
    attempt: int = row.attempts
    status, outcome, next_at = "sent", "sent", None
    if not result.ok and not result.definite:
        # The gateway may have taken it: never again (see the module docstring).
        status, outcome = "ambiguous", "ambiguous"
    elif not result.ok:
        outcome = "failed"
        next_at = None
        if attempt < policy.max_attempts:
            next_at = timing.retry_instant(
                now=now,
                delay=timing.backoff(
                    attempt,
                    base_seconds=policy.backoff_seconds,
                    cap_seconds=policy.backoff_cap_seconds,
                ),
                client_zone=ZoneInfo(row.client_timezone or row.shop_timezone),
                quiet=timing.QuietHours(
                    row.reminder_quiet_start,
                    row.reminder_quiet_end,
                ),
                starts_at=row.starts_at,
            )
        status = "pending" if next_at is not None else "failed"
    if status == "sent":
        report.sent += 1
    elif status == "ambiguous":
        report.ambiguous += 1
    elif status == "pending":
        report.retried += 1
    else:
        report.failed += 1
    with transaction(sessions) as session:
        session.execute(
            _RECORD,
            {
                "status": status,
                "outcome": outcome,
                "next": next_at,
                "now": now,
                "error": result.error,
                "id": row.id,
                "token": token,
                "attempt": attempt,
            },
        )
