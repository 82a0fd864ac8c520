"""The shop calendar over the JSON API: a day, an ISO week, the same rows as CSV."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import date, timedelta

from fastapi.testclient import TestClient

from tests.booking.world import (
    PASSWORD,
    Account,
    book,
    future_day,
    local,
    make_shop,
    pay,
    register,
    shift_booking,
    sql,
)

LA = "America/Los_Angeles"


def _calendar(client: TestClient, owner: Account, shop_id: str, day: date, span: str) -> object:
    return client.get(
        f"/api/v1/shops/{shop_id}/calendar",
        headers=owner.headers,
        params={"date": day.isoformat(), "span": span},
    )


def _csv_rows(client: TestClient, owner: Account, shop_id: str, day: date, span: str) -> list:
    response = client.get(
        f"/api/v1/shops/{shop_id}/calendar.csv",
        headers=owner.headers,
        params={"date": day.isoformat(), "span": span},
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert f"calendar-{span}-" in response.headers["content-disposition"]
    return list(csv.DictReader(io.StringIO(response.text)))


def test_an_owner_sees_a_day_and_its_week_in_the_shops_time_zone_and_the_csv_agrees(
    client: TestClient, database_url: str
) -> None:
    shop = make_shop(client, timezone=LA)
    alice = register(client)
    day = future_day(10)
    day -= timedelta(days=day.weekday() == 6)  # the next day in the same ISO week
    # 16:30 in Los Angeles is 00:30 UTC the next day: it belongs to the local day.
    late = book(client, alice, shop, local(day, "16:30", LA)).json()
    pay(client, alice, late["id"])
    morning = book(client, alice, shop, local(day, "09:00", LA)).json()
    lapsed = book(client, alice, shop, local(day, "11:00", LA)).json()
    sql(
        database_url,
        "UPDATE bookings SET status = 'expired' WHERE id = %(id)s",
        {"id": lapsed["id"]},
    )
    other_day = book(client, alice, shop, local(day + timedelta(days=1), "10:00", LA)).json()

    response = _calendar(client, shop.owner, shop.id, day, "day")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["timezone"] == LA and body["first_day"] == body["last_day"] == day.isoformat()
    listed = [(e["booking_id"], e["status"], e["starts_at"]) for e in body["entries"]]
    assert listed == [
        (morning["id"], "pending_payment", local(day, "09:00", LA).isoformat()),
        (late["id"], "confirmed", local(day, "16:30", LA).isoformat()),
    ]
    assert {e["client_name"] for e in body["entries"]} == {"Test client"}
    assert {e["service_name"] for e in body["entries"]} == {"Haircut"}
    assert not any(e["finishable"] for e in body["entries"])  # none has started

    week = _calendar(client, shop.owner, shop.id, day, "week").json()
    monday = day - timedelta(days=day.weekday())
    assert (week["first_day"], week["last_day"]) == (
        monday.isoformat(),
        (monday + timedelta(days=6)).isoformat(),
    )
    assert [e["booking_id"] for e in week["entries"]] == [
        morning["id"],
        late["id"],
        other_day["id"],
    ]

    for span, entries in (("day", body["entries"]), ("week", week["entries"])):
        rows = _csv_rows(client, shop.owner, shop.id, day, span)
        assert [(r["booking_id"], r["status"], r["starts"], r["client"]) for r in rows] == [
            (e["booking_id"], e["status"], e["starts_at"], e["client_name"]) for e in entries
        ]
    assert {r["timezone"] for r in rows} == {LA}


def test_only_a_started_confirmed_booking_is_finishable(
    client: TestClient, database_url: str
) -> None:
    shop = make_shop(client)
    alice = register(client)
    day = future_day(10)
    started = book(client, alice, shop, local(day, "10:00")).json()
    unpaid = book(client, alice, shop, local(day, "12:00")).json()
    pay(client, alice, started["id"])
    shift_booking(database_url, started["id"], timedelta(days=-11))
    shift_booking(database_url, unpaid["id"], timedelta(days=-11))
    past = day - timedelta(days=11)

    entries = _calendar(client, shop.owner, shop.id, past, "day").json()["entries"]
    assert {e["booking_id"]: e["finishable"] for e in entries} == {
        started["id"]: True,
        unpaid["id"]: False,
    }
    done = client.post(f"/api/v1/bookings/{started['id']}/complete", headers=shop.owner.headers)
    assert done.status_code == 200, done.text
    entries = _calendar(client, shop.owner, shop.id, past, "day").json()["entries"]
    assert [(e["status"], e["finishable"]) for e in entries] == [
        ("completed", False),
        ("pending_payment", False),
    ]


def test_another_owner_and_a_client_get_404_for_the_calendar_and_its_csv(
    client: TestClient,
) -> None:
    shop = make_shop(client)
    alice = register(client)
    book(client, alice, shop, local(future_day(), "10:00"))
    stranger = register(client, "owner")
    for path in ("calendar", "calendar.csv"):
        for who in (stranger, alice):
            response = client.get(
                f"/api/v1/shops/{shop.id}/{path}",
                headers=who.headers,
                params={"date": future_day().isoformat()},
            )
            assert response.status_code == 404, response.text
            assert "Test client" not in response.text
    missing = client.get(
        f"/api/v1/shops/{uuid.uuid4()}/calendar",
        headers=shop.owner.headers,
        params={"date": future_day().isoformat()},
    )
    assert missing.status_code == 404


def test_bad_calendar_parameters_are_422_naming_the_field(client: TestClient) -> None:
    shop = make_shop(client)
    for params, field in (
        ({"date": "1999-12-31"}, "date"),
        ({"date": "tomorrow"}, "date"),
        ({"date": "2027-01-01", "span": "month"}, "span"),
    ):
        response = client.get(
            f"/api/v1/shops/{shop.id}/calendar", headers=shop.owner.headers, params=params
        )
        assert response.status_code == 422, response.text
        assert any(e["field"].endswith(field) for e in response.json()["errors"]), response.text


def test_a_client_name_that_looks_like_a_formula_is_defused_in_the_csv(
    client: TestClient,
) -> None:
    shop = make_shop(client)
    email = f"formula-{uuid.uuid4().hex[:6]}@example.com"
    evil = '=HYPERLINK("http://evil.example","click")'
    registered = client.post(
        "/api/v1/auth/register",
        json={"email": email, "password": PASSWORD, "full_name": evil, "role": "client"},
    )
    assert registered.status_code == 202, registered.text
    login = client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD}).json()
    mallory = Account(login["user"]["id"], email, login["access_token"], login["refresh_token"])
    day = future_day()
    book(client, mallory, shop, local(day, "10:00"))
    (row,) = _csv_rows(client, shop.owner, shop.id, day, "day")
    assert row["client"] == "'" + evil


def test_time_off_that_has_already_ended_is_refused_and_nothing_is_written(
    client: TestClient, database_url: str
) -> None:
    shop = make_shop(client)
    response = client.post(
        f"/api/v1/providers/{shop.provider_id}/time-off",
        headers=shop.owner.headers,
        json={"starts_at": "2020-01-01T09:00:00Z", "ends_at": "2020-01-01T17:00:00Z"},
    )
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == "ends_at"
    assert "in the past" in response.json()["detail"]
    assert sql(database_url, "SELECT count(*) FROM time_off") == [(0,)]


def test_a_week_across_the_spring_dst_change_keeps_each_booking_on_its_local_day(
    client: TestClient,
) -> None:
    shop = make_shop(client)  # Europe/Berlin: clocks go forward on Sunday 2027-03-28
    alice = register(client)
    monday, sunday = date(2027, 3, 22), date(2027, 3, 28)
    before = book(client, alice, shop, local(monday, "09:00")).json()
    after = book(client, alice, shop, local(sunday, "16:30")).json()

    week = _calendar(client, shop.owner, shop.id, date(2027, 3, 25), "week").json()
    assert (week["first_day"], week["last_day"]) == ("2027-03-22", "2027-03-28")
    assert [(e["booking_id"], e["starts_at"]) for e in week["entries"]] == [
        (before["id"], "2027-03-22T09:00:00+01:00"),
        (after["id"], "2027-03-28T16:30:00+02:00"),
    ]
    rows = _csv_rows(client, shop.owner, shop.id, date(2027, 3, 25), "week")
    assert [(r["date"], r["starts"]) for r in rows] == [
        ("2027-03-22", "2027-03-22T09:00:00+01:00"),
        ("2027-03-28", "2027-03-28T16:30:00+02:00"),
    ]
    # The next Monday's day view does not pick up the Sunday booking (23-hour day before it).
    next_day = _calendar(client, shop.owner, shop.id, date(2027, 3, 29), "day").json()
    assert next_day["entries"] == []
