"""The outbox: written by the booking's own transaction, cancelled and moved with it, and
configured per shop."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from chairside.accounts import service as accounts
from chairside.accounts import tokens
from chairside.booking import service as bookings
from chairside.clock import ManualClock
from chairside.config import Settings
from chairside.reminders import service
from chairside.reminders.memory import MemoryReminderChannel
from chairside.reminders.models import Reminder
from tests.booking.world import book, future_day, local, make_shop, register, sql
from tests.reminders.conftest import confirmed_booking, reminders_of


def test_the_booking_transaction_writes_its_reminders_and_a_rolled_back_one_writes_none(
    client: TestClient,
    database_url: str,
    sessions: sessionmaker[Session],
    reminder_settings: Settings,
) -> None:
    shop = make_shop(client)
    alice = register(client)
    caller = accounts.PresentedToken(
        claims=tokens.decode(alice.token, expected="access", settings=reminder_settings)
    )
    starts = local(future_day(5), "10:00")
    with sessions() as session:
        created = bookings.create_booking(
            session=session,
            settings=reminder_settings,
            caller=caller,
            provider_id=uuid.UUID(shop.provider_id),
            service_id=uuid.UUID(shop.service_id),
            starts_at=starts,
        )
        inside = session.scalars(
            select(Reminder.lead_minutes).where(Reminder.booking_id == created.booking.id)
        ).all()
        session.rollback()
    assert sorted(inside) == [120, 1440]  # there, in the booking's transaction
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Reminder)) == 0
    # The slot is free again, and a booking that commits keeps its reminders.
    booking = confirmed_booking(client, alice, shop, starts)
    rows = reminders_of(database_url, booking)
    assert [(r["lead_minutes"], r["due_at"]) for r in rows] == [
        (1440, (starts - timedelta(days=1)).astimezone(UTC)),
        (120, (starts - timedelta(hours=2)).astimezone(UTC)),
    ]
    # A request that loses the slot writes none either.
    bob = register(client)
    assert book(client, bob, shop, starts).status_code == 409
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Reminder)) == 2


def test_a_cancelled_booking_is_never_reminded_and_a_rescheduled_one_at_its_new_time(
    client: TestClient,
    database_url: str,
    sessions: sessionmaker[Session],
    reminder_settings: Settings,
) -> None:
    shop = make_shop(client)
    alice = register(client)
    day = future_day(5)
    cancelled = confirmed_booking(client, alice, shop, local(day, "10:00"))
    moved = confirmed_booking(client, alice, shop, local(day, "14:00"))
    answer = client.post(f"/api/v1/bookings/{cancelled}/cancel", headers=alice.headers)
    assert answer.status_code == 200, answer.text
    assert [r["status"] for r in reminders_of(database_url, cancelled)] == ["cancelled"] * 2
    new_start = local(day + timedelta(days=2), "11:00")
    answer = client.post(
        f"/api/v1/bookings/{moved}/reschedule",
        headers=alice.headers,
        json={"starts_at": new_start.isoformat()},
    )
    assert answer.status_code == 200, answer.text
    rows = reminders_of(database_url, moved)
    assert sorted((r["status"], r["lead_minutes"]) for r in rows) == [
        ("moved", 120),
        ("moved", 1440),
        ("pending", 120),
        ("pending", 1440),
    ]
    pending = sorted(r["due_at"] for r in rows if r["status"] == "pending")
    assert pending == [
        (new_start - timedelta(days=1)).astimezone(UTC),
        (new_start - timedelta(hours=2)).astimezone(UTC),
    ]

    channel = MemoryReminderChannel()
    clock = ManualClock(datetime.now(UTC))
    sent: list[tuple[datetime, int]] = []
    # Every old due instant, then the new ones: only the new ones send.
    old_and_new = sorted(
        {
            *(r["due_at"] for r in reminders_of(database_url, cancelled)),
            *(r["due_at"] for r in rows),
        }
    )
    for instant in old_and_new:
        clock.set(instant)
        report = service.deliver_due(
            sessions=sessions, settings=reminder_settings, clock=clock, channels={"email": channel}
        )
        sent.append((instant, report.sent))
    assert [n for _, n in sent if n] == [1, 1]
    assert {instant for instant, n in sent if n} == set(pending)
    assert all("11:00" in message.body for message in channel.sent)


def test_a_shop_sets_its_lead_times_within_bounds_and_its_bookings_follow(
    client: TestClient, database_url: str
) -> None:
    shop = make_shop(client)
    owner = shop.owner
    for bad, why in (
        ([5], "greater than or equal to 15"),
        ([120, 120], "listed twice"),
        ([60, 120, 180, 240, 300], "at most 4"),
        ([20000], "less than or equal to 10080"),
    ):
        refused = client.patch(
            f"/api/v1/shops/{shop.id}", headers=owner.headers, json={"reminder_lead_minutes": bad}
        )
        assert refused.status_code == 422, (bad, refused.text)
        assert "reminder_lead_minutes" in refused.text and why in refused.text, refused.text
    changed = client.patch(
        f"/api/v1/shops/{shop.id}",
        headers=owner.headers,
        json={"reminder_lead_minutes": [60], "reminder_quiet_start": "22:00"},
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["reminder_lead_minutes"] == [60]
    assert changed.json()["reminder_quiet_start"] == "22:00:00"
    alice = register(client)
    starts = local(future_day(5), "12:00")
    booking = confirmed_booking(client, alice, shop, starts)
    assert [(r["lead_minutes"], r["due_at"]) for r in reminders_of(database_url, booking)] == [
        (60, (starts - timedelta(hours=1)).astimezone(UTC))
    ]


def test_an_anonymised_client_gets_no_reminder_and_loses_their_phone(
    client: TestClient, database_url: str, sessions: sessionmaker[Session]
) -> None:
    from chairside.privacy import service as privacy

    shop = make_shop(client)
    alice = register(client)
    set_phone = client.patch("/api/v1/me", headers=alice.headers, json={"phone": "+4915112345678"})
    assert set_phone.status_code == 200, set_phone.text
    # Unpaid and expired: not upcoming (anonymising refuses while one is), yet a late
    # payment could revive it, so its reminders were still pending.
    booking = book(client, alice, shop, local(future_day(5), "10:00")).json()["id"]
    sql(database_url, "UPDATE bookings SET status = 'expired' WHERE id = %(id)s", {"id": booking})
    assert [r["status"] for r in reminders_of(database_url, booking)] == ["pending"] * 2
    with sessions() as session, session.begin():
        exported = privacy.export_client(session=session, user_id=uuid.UUID(alice.id))
        assert exported["account"]["phone"] == "+4915112345678"
        privacy.anonymise_client(
            session=session, user_id=uuid.UUID(alice.id), actor=None, by="retention"
        )
    assert [r["status"] for r in reminders_of(database_url, booking)] == ["cancelled"] * 2
    [(phone,)] = sql(database_url, "SELECT phone FROM users WHERE id = %(id)s", {"id": alice.id})
    assert phone is None
