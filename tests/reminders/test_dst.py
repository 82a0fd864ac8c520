"""Reminders fire at the right instants across daylight-saving changes, outside the
client's quiet hours, moved by a controllable clock (no sleeping)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from chairside.clock import ManualClock
from chairside.config import Settings
from chairside.reminders import service
from chairside.reminders.memory import MemoryReminderChannel
from tests.booking.world import make_shop, register
from tests.reminders.conftest import confirmed_booking, reminders_of

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
SECOND = timedelta(seconds=1)


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def _sent_at(
    instants: list[datetime],
    *,
    sessions: sessionmaker[Session],
    settings: Settings,
) -> list[tuple[datetime, list[str]]]:
    """Run the worker at each instant (in order); what it sent at each, by title."""
    channel = MemoryReminderChannel()
    clock = ManualClock(instants[0])
    seen: list[tuple[datetime, list[str]]] = []
    for instant in instants:
        clock.set(instant)
        before = len(channel.sent)
        service.deliver_due(
            sessions=sessions, settings=settings, clock=clock, channels={"email": channel}
        )
        seen.append((instant, [m.body for m in channel.sent[before:]]))
    return seen


def test_the_day_before_reminder_keeps_the_wall_clock_when_berlin_falls_back(
    client: TestClient,
    database_url: str,
    sessions: sessionmaker[Session],
    reminder_settings: Settings,
) -> None:
    # Clocks go back from 03:00 to 02:00 on Sunday 31 October 2027: 10:00 on Saturday is
    # 25 real hours before 10:00 on Sunday. The 2 h reminder is two real hours before.
    shop = make_shop(client, timezone="Europe/Berlin")
    alice = register(client)
    booking = confirmed_booking(client, alice, shop, datetime(2027, 10, 31, 10, 0, tzinfo=BERLIN))
    day_before = _utc("2027-10-30T08:00")  # Saturday 10:00 CEST
    two_hours = _utc("2027-10-31T07:00")  # Sunday 08:00 CET (09:00Z start)
    assert [(r["lead_minutes"], r["due_at"]) for r in reminders_of(database_url, booking)] == [
        (1440, day_before),
        (120, two_hours),
    ]
    seen = _sent_at(
        [day_before - SECOND, day_before, two_hours - SECOND, two_hours, two_hours + SECOND],
        sessions=sessions,
        settings=reminder_settings,
    )
    counts = [len(bodies) for _, bodies in seen]
    assert counts == [0, 1, 0, 1, 0]
    assert "Sunday 31 October 2027 at 10:00" in seen[1][1][0]
    assert [r["status"] for r in reminders_of(database_url, booking)] == ["sent", "sent"]


def test_spring_forward_and_quiet_hours_in_the_clients_own_zone(
    client: TestClient,
    database_url: str,
    sessions: sessionmaker[Session],
    reminder_settings: Settings,
) -> None:
    # New York springs forward on Sunday 12 March 2028 (02:00 -> 03:00): Saturday 09:00
    # EST is 23 real hours before Sunday 09:00 EDT. The 2 h reminder would be 07:00, inside
    # the quiet hours (21:00-08:00): it comes at 08:00, still before the booking.
    shop = make_shop(client, timezone="America/New_York", latitude=40.7, longitude=-74.0)
    bob = register(client)
    booking = confirmed_booking(client, bob, shop, datetime(2028, 3, 12, 9, 0, tzinfo=NEW_YORK))
    day_before = _utc("2028-03-11T14:00")  # Saturday 09:00 EST
    after_quiet = _utc("2028-03-12T12:00")  # Sunday 08:00 EDT
    assert [(r["lead_minutes"], r["due_at"]) for r in reminders_of(database_url, booking)] == [
        (1440, day_before),
        (120, after_quiet),
    ]
    # A client who lives in Los Angeles books the same Sunday 09:00 in New York: the 24 h
    # reminder (Saturday 06:00 in LA) waits for 08:00 there; the 2 h one (04:00 in LA)
    # cannot wait for the end of the quiet hours (after the booking), so it is sent when
    # they begin, at 21:00 the evening before.
    carol = register(client)
    moved = client.patch(
        "/api/v1/me", headers=carol.headers, json={"timezone": "America/Los_Angeles"}
    )
    assert moved.status_code == 200, moved.text
    later = confirmed_booking(client, carol, shop, datetime(2028, 3, 12, 10, 0, tzinfo=NEW_YORK))
    la_morning = _utc("2028-03-11T16:00")  # Saturday 08:00 PST
    la_evening = _utc("2028-03-12T05:00")  # Saturday 21:00 PST
    assert [(r["lead_minutes"], r["due_at"]) for r in reminders_of(database_url, later)] == [
        (1440, la_morning),
        (120, la_evening),
    ]
    seen = _sent_at(
        [
            day_before - SECOND,
            day_before,
            la_morning,
            la_evening,
            after_quiet - SECOND,
            after_quiet,
        ],
        sessions=sessions,
        settings=reminder_settings,
    )
    assert [len(bodies) for _, bodies in seen] == [0, 1, 1, 1, 0, 1]


def test_a_bad_time_zone_for_the_client_is_refused_naming_the_field(
    client: TestClient,
) -> None:
    dave = register(client)
    refused = client.patch("/api/v1/me", headers=dave.headers, json={"timezone": "Mars/Base"})
    assert refused.status_code == 422
    assert "Mars/Base" in refused.text and "timezone" in refused.text
    assert client.get("/api/v1/me", headers=dave.headers).json()["timezone"] is None
