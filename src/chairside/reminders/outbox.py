"""Writing reminders: in the booking's own transaction, cancelled and moved with it.

- **creation** adds no statement: :data:`CREATION_CTE` is one more data-modifying CTE of
  the booking's insert (``booking/creation.py``), fed three arrays that
  :func:`creation_params` works out in Python (lead, channel, due instant), so the
  reminders exist exactly when the booking does;
- **cancel** (:func:`cancel_pending`) and **reschedule** (:func:`move_pending`) run in
  the transaction of the status change, called by ``booking/transitions.py`` and
  ``booking/service.py``, the functions every API route and the web app use.

Smoke-test canaries get no reminders.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from chairside.accounts.models import User
from chairside.booking.models import Booking
from chairside.ops.health.smoke.canary import CANARY_DOMAIN
from chairside.reminders import timing
from chairside.reminders.channel import ChannelConfig, reachable_channels
from chairside.reminders.models import Reminder
from chairside.shops.models import Shop

# Appended to the booking insert's CTEs; a booking that was not inserted writes nothing.
CREATION_CTE = """, reminded AS (
    INSERT INTO reminders (booking_id, channel, lead_minutes, booking_starts_at, due_at,
        next_attempt_at)
    SELECT created.id, r.channel, r.lead_minutes, created.starts_at, r.due_at, r.due_at
    FROM created, unnest(CAST(:reminder_channels AS text[]),
        CAST(:reminder_leads AS integer[]), CAST(:reminder_dues AS timestamptz[]))
        AS r(channel, lead_minutes, due_at)
)"""


def client_zone(user_zone: str | None, shop_zone: str) -> ZoneInfo:
    """The zone a client's quiet hours are in: theirs, else the shop's."""
    return ZoneInfo(user_zone or shop_zone)


def quiet_hours(shop: Shop) -> timing.QuietHours:
    return timing.QuietHours(shop.reminder_quiet_start, shop.reminder_quiet_end)


def _rows(
    *,
    shop: Shop,
    client_timezone: str | None,
    channels: list[str],
    starts_at: datetime,
    now: datetime,
) -> list[tuple[str, int, datetime]]:
    if not channels:
        return []
    dues = timing.plan(
        starts_at=starts_at,
        leads=shop.reminder_lead_minutes,
        shop_zone=ZoneInfo(shop.timezone),
        client_zone=client_zone(client_timezone, shop.timezone),
        quiet=quiet_hours(shop),
        now=now,
    )
    return [(channel, due.lead_minutes, due.due_at) for due in dues for channel in channels]


def creation_params(
    *,
    shop: Shop,
    email: str,
    client_timezone: str | None,
    channels: list[str],
    starts_at: datetime,
    now: datetime,
) -> dict[str, object]:
    """The bind parameters of :data:`CREATION_CTE` for a new booking."""
    if email.endswith("@" + CANARY_DOMAIN):
        channels = []
    rows = _rows(
        shop=shop, client_timezone=client_timezone, channels=channels, starts_at=starts_at, now=now
    )
    return {
        "reminder_channels": [row[0] for row in rows],
        "reminder_leads": [row[1] for row in rows],
        "reminder_dues": [row[2] for row in rows],
    }


def cancel_pending(session: Session, *booking_ids: uuid.UUID) -> int:
    """Cancel the bookings' reminders not yet handed to a channel; returns how many."""
    result = session.execute(
        update(Reminder)
        .where(Reminder.booking_id.in_(booking_ids), Reminder.status == "pending")
        .values(status="cancelled", updated_at=func.now())
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def move_pending(
    session: Session,
    *,
    booking: Booking,
    shop: Shop,
    now: datetime,
    configs: list[ChannelConfig] | None,
) -> int:
    """Retire the booking's pending reminders and plan them anew for its new start (one
    sent for the old time does not count for the new one); returns how many were written.

    ``configs``: the configured channels; None (a caller without settings) reuses the
    channels the booking's reminders already had.
    """
    session.execute(
        update(Reminder)
        .where(Reminder.booking_id == booking.id, Reminder.status == "pending")
        .values(status="moved", updated_at=func.now())
        .execution_options(synchronize_session=False)
    )
    client = session.execute(
        select(User.email, User.phone, User.timezone).where(User.id == booking.client_id)
    ).one()
    if configs is None:
        channels = list(
            session.scalars(
                select(Reminder.channel)
                .where(Reminder.booking_id == booking.id)
                .distinct()
                .order_by(Reminder.channel)
            )
        )
    else:
        channels = reachable_channels(configs, email=client.email, phone=client.phone)
    if client.email.endswith("@" + CANARY_DOMAIN):
        channels = []
    rows = _rows(
        shop=shop,
        client_timezone=client.timezone,
        channels=channels,
        starts_at=booking.starts_at,
        now=now,
    )
    if rows:
        session.execute(
            insert(Reminder),
            [
                {
                    "booking_id": booking.id,
                    "channel": channel,
                    "lead_minutes": lead,
                    "booking_starts_at": booking.starts_at,
                    "due_at": due,
                    "next_attempt_at": due,
                }
                for channel, lead, due in rows
            ],
        )
    return len(rows)
