"""Availability in the shop's time zone: DST days, breaks, time off, buffers, notice, bookings."""

from __future__ import annotations

from datetime import date, timedelta

from fastapi.testclient import TestClient

from tests.booking.world import book, future_day, local, make_shop, register

# Europe/Berlin: clocks go 02:00 -> 03:00 on 2027-03-28 and 03:00 -> 02:00 on 2027-10-31.
SPRING_FORWARD = date(2027, 3, 28)
FALL_BACK = date(2027, 10, 31)


def _slots(client: TestClient, shop: object, first: date, last: date | None = None) -> list[str]:
    response = client.get(
        f"/api/v1/providers/{shop.provider_id}/availability",  # type: ignore[attr-defined]
        params={
            "service_id": shop.service_id,  # type: ignore[attr-defined]
            "from": first.isoformat(),
            "to": (last or first).isoformat(),
        },
    )
    assert response.status_code == 200, response.text
    return list(response.json()["slots"])


def _night_shift(weekday: int) -> list[dict[str, object]]:
    return [{"weekday": weekday, "start": "01:00", "end": "04:00"}]


def test_the_spring_forward_night_is_an_hour_shorter_and_skips_the_missing_hour(
    client: TestClient,
) -> None:
    shop = make_shop(client, duration=60, hours=_night_shift(SPRING_FORWARD.weekday()))
    assert _slots(client, shop, SPRING_FORWARD) == [
        "2027-03-28T01:00:00+01:00",
        "2027-03-28T01:15:00+01:00",
        "2027-03-28T01:30:00+01:00",
        "2027-03-28T01:45:00+01:00",
        "2027-03-28T03:00:00+02:00",
    ]


def test_the_fall_back_night_is_an_hour_longer_and_offers_the_repeated_hour_twice(
    client: TestClient,
) -> None:
    shop = make_shop(client, duration=60, hours=_night_shift(FALL_BACK.weekday()))
    slots = _slots(client, shop, FALL_BACK)
    assert len(slots) == 13  # four real hours, a 60-minute service, 15-minute steps
    assert slots[0] == "2027-10-31T01:00:00+02:00"
    assert "2027-10-31T02:30:00+02:00" in slots
    assert "2027-10-31T02:30:00+01:00" in slots
    assert slots[-1] == "2027-10-31T03:00:00+01:00"


def test_daytime_hours_keep_their_wall_clock_times_across_the_change(client: TestClient) -> None:
    shop = make_shop(client, duration=60)
    before = _slots(client, shop, SPRING_FORWARD - timedelta(days=1))
    after = _slots(client, shop, SPRING_FORWARD)
    assert before[0] == "2027-03-27T09:00:00+01:00"
    assert after[0] == "2027-03-28T09:00:00+02:00"
    assert before[-1].startswith("2027-03-27T16:00") and after[-1].startswith("2027-03-28T16:00")
    assert len(before) == len(after) == 29


def test_breaks_time_off_buffers_and_bookings_remove_slots(client: TestClient) -> None:
    day = future_day(10)
    hours = [
        {
            "weekday": day.weekday(),
            "start": "09:00",
            "end": "13:00",
            "breaks": [{"start": "11:00", "end": "11:30"}],
        }
    ]
    shop = make_shop(client, duration=30, buffer_after=15, hours=hours)
    client.post(
        f"/api/v1/providers/{shop.provider_id}/time-off",
        headers=shop.owner.headers,
        json={
            "starts_at": local(day, "12:00").isoformat(),
            "ends_at": local(day, "13:00").isoformat(),
        },
    )
    alice = register(client)
    assert book(client, alice, shop, local(day, "09:30")).status_code == 201
    times = [s[11:16] for s in _slots(client, shop, day)]
    # 09:30 booked with its 15-minute after-buffer: 09:00 would run into it (09:00+30+15),
    # 09:45/10:00 start inside it; the break and the time off cut the rest.
    assert times == ["10:15", "10:30", "11:30"]


def test_minimum_notice_hides_slots_that_are_too_soon(client: TestClient) -> None:
    shop = make_shop(client, min_notice=60 * 24 * 3)
    soon = future_day(1)
    later = future_day(5)
    assert _slots(client, shop, soon) == []
    assert len(_slots(client, shop, later)) > 0


def test_a_range_ending_before_it_starts_or_too_long_is_422(client: TestClient) -> None:
    shop = make_shop(client)
    day = future_day(3)
    for first, last in ((day, day - timedelta(days=1)), (day, day + timedelta(days=40))):
        response = client.get(
            f"/api/v1/providers/{shop.provider_id}/availability",
            params={"service_id": shop.service_id, "from": str(first), "to": str(last)},
        )
        assert response.status_code == 422
        assert response.json()["errors"][0]["field"] == "to"


def test_an_unknown_provider_is_404(client: TestClient) -> None:
    shop = make_shop(client)
    response = client.get(
        "/api/v1/providers/00000000-0000-0000-0000-000000000000/availability",
        params={"service_id": shop.service_id, "from": "2030-01-01", "to": "2030-01-02"},
    )
    assert response.status_code == 404
