"""Hostile and malformed input, per field family: always a 4xx naming the field, never a 500."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

import chairside.migrations.versions as versions
from chairside import bounds
from tests.booking.world import (
    Shop,
    book,
    future_day,
    local,
    make_shop,
    register,
    sql,
)

NUL = "a\x00b"
LONE_SURROGATE = "Mia \ud800"


@pytest.fixture
def shop(client: TestClient) -> Shop:
    return make_shop(client)


def _post(client: TestClient, path: str, body: object, **headers: str) -> Any:
    """POST JSON with non-ASCII escaped, the way a client can send a lone surrogate."""
    headers = {**headers, "content-type": "application/json"}
    return client.post(path, content=json.dumps(body), headers=headers)


def _field_error(response: Any, field: str) -> str:
    assert 400 <= response.status_code < 500, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/problem+json")
    fields = [e["field"] for e in response.json().get("errors", [])]
    assert any(f == field or f.endswith(f".{field}") for f in fields), (field, response.text)
    return str(response.json()["detail"])


@pytest.mark.parametrize(
    "starts_at",
    [
        "0001-01-01T00:00:00+00:00",
        "0001-01-01T00:30:00+01:00",  # before year 1 in UTC
        "9999-12-31T23:59:59-14:00",
        "9999-12-31T23:59:59+14:00",
        "1999-12-31T23:00:00Z",
        "2100-01-02T00:00:00Z",
        "2027-03-28T09:00:00",  # naive
    ],
)
def test_instants_out_of_range_are_422_naming_the_field(
    client: TestClient, shop: Shop, starts_at: str
) -> None:
    alice = register(client)
    booking = client.post(
        "/api/v1/bookings",
        headers=alice.headers,
        json={
            "provider_id": shop.provider_id,
            "service_id": shop.service_id,
            "starts_at": starts_at,
        },
    )
    assert "2000-01-01" in _field_error(booking, "starts_at")
    time_off = client.post(
        f"/api/v1/providers/{shop.provider_id}/time-off",
        headers=shop.owner.headers,
        json={"starts_at": starts_at, "ends_at": "2027-03-28T10:00:00Z"},
    )
    _field_error(time_off, "starts_at")


@pytest.mark.parametrize("day", ["0001-01-01", "9999-12-31", "1999-12-31", "2100-01-01"])
def test_availability_dates_out_of_range_are_422(client: TestClient, shop: Shop, day: str) -> None:
    response = client.get(
        f"/api/v1/providers/{shop.provider_id}/availability",
        params={"service_id": shop.service_id, "from": day, "to": day},
    )
    assert "2099-12-31" in _field_error(response, "from")


def test_nul_and_lone_surrogates_are_refused_in_every_text_family(
    client: TestClient, shop: Shop
) -> None:
    for bad in (NUL, LONE_SURROGATE):
        login = _post(client, "/api/v1/auth/login", {"email": f"x{bad}@x.io", "password": bad})
        _field_error(login, "email")
        registration = _post(
            client,
            "/api/v1/auth/register",
            {"email": "n@example.com", "password": "good pass 123", "full_name": bad},
        )
        _field_error(registration, "full_name")
        service = _post(
            client,
            f"/api/v1/shops/{shop.id}/services",
            {"name": bad, "duration_minutes": 30, "price_minor": 100},
            **shop.owner.headers,
        )
        _field_error(service, "name")
        note = _post(
            client,
            "/api/v1/bookings",
            {
                "provider_id": shop.provider_id,
                "service_id": shop.service_id,
                "starts_at": local(future_day(), "10:00").isoformat(),
                "note": bad,
            },
            **shop.owner.headers,
        )
        _field_error(note, "note")
    search = client.get(
        "/api/v1/search/providers", params={"service": NUL, "lat": 52.5, "lon": 13.4}
    )
    _field_error(search, "service")
    detail = _field_error(
        client.post("/api/v1/auth/register", json={"email": "n@example.com", "password": NUL}),
        "password",
    )
    assert "U+0000" in detail
    assert "\x00" not in detail


def test_money_above_the_cap_is_422_and_the_cap_itself_is_accepted(
    client: TestClient, shop: Shop
) -> None:
    for price in (2**62, 2**63, 2**64, bounds.MONEY_MAX_MINOR + 1, -1):
        response = client.post(
            f"/api/v1/shops/{shop.id}/services",
            headers=shop.owner.headers,
            json={"name": "Gold cut", "duration_minutes": 30, "price_minor": price},
        )
        detail = _field_error(response, "price_minor")
        assert str(bounds.MONEY_MAX_MINOR) in detail or price < 0
        fee = client.patch(
            f"/api/v1/shops/{shop.id}",
            headers=shop.owner.headers,
            json={"late_cancel_fee_minor": price},
        )
        _field_error(fee, "late_cancel_fee_minor")
    top = client.post(
        f"/api/v1/shops/{shop.id}/services",
        headers=shop.owner.headers,
        json={"name": "Gold cut", "duration_minutes": 30, "price_minor": bounds.MONEY_MAX_MINOR},
    )
    assert top.status_code == 201, top.text


def test_coordinates_radius_and_offsets_must_be_sane_numbers(
    client: TestClient, shop: Shop
) -> None:
    for value in ("NaN", "Infinity", "-Infinity", "1e309"):
        search = client.get(
            "/api/v1/search/providers", params={"service": "hair", "lat": value, "lon": 13.4}
        )
        _field_error(search, "lat")
    for body in ('{"latitude": NaN}', '{"longitude": Infinity}'):
        patched = client.patch(
            f"/api/v1/shops/{shop.id}",
            headers={**shop.owner.headers, "content-type": "application/json"},
            content=body,
        )
        assert patched.status_code == 422, patched.text
    for radius in ("5e-324", "0", "-1", "201", "NaN"):
        search = client.get(
            "/api/v1/search/providers",
            params={"service": "hair", "lat": 52.5, "lon": 13.4, "radius_km": radius},
        )
        _field_error(search, "radius_km")
    for offset in (2**63, 2**64, -1, bounds.MAX_OFFSET + 1):
        listed = client.get(
            "/api/v1/bookings", headers=shop.owner.headers, params={"offset": offset}
        )
        _field_error(listed, "offset")


def test_hours_refuse_offsets_and_their_schema_matches_what_they_return(
    client: TestClient, shop: Shop
) -> None:
    response = client.put(
        f"/api/v1/providers/{shop.provider_id}/hours",
        headers=shop.owner.headers,
        json={"days": [{"weekday": 0, "start": "09:00+02:00", "end": "17:00"}]},
    )
    _field_error(response, "start")
    ok = client.put(
        f"/api/v1/providers/{shop.provider_id}/hours",
        headers=shop.owner.headers,
        json={"days": [{"weekday": 0, "start": "00:00", "end": "23:59:59"}]},
    )
    assert ok.status_code == 200, ok.text
    pattern = client.get("/openapi.json").json()["components"]["schemas"]["DayHours"]["properties"][
        "start"
    ]["pattern"]
    for day in ok.json()["days"]:
        assert re.match(pattern, day["start"]) and re.match(pattern, day["end"]), day


def test_a_time_off_stored_before_the_bounds_stays_readable_and_deletable(
    client: TestClient, shop: Shop, database_url: str
) -> None:
    # Written the way the old API let it through (before year 1 in UTC), then the
    # migration's constraint added over it, as on a database upgraded with such a row.
    sql(
        database_url,
        "ALTER TABLE time_off DROP CONSTRAINT time_off_instant_bounds; "
        "INSERT INTO time_off (provider_id, starts_at, ends_at, reason) VALUES "
        f"('{shop.provider_id}', '0001-01-01 00:30:00+01', '2000-06-01 00:00:00+00', 'old'); "
        "ALTER TABLE time_off ADD CONSTRAINT time_off_instant_bounds CHECK (starts_at BETWEEN "
        "'2000-01-01 00:00:00+00' AND '2100-01-01 00:00:00+00' AND ends_at BETWEEN "
        "'2000-01-01 00:00:00+00' AND '2100-01-01 00:00:00+00') NOT VALID",
    )
    path = f"/api/v1/providers/{shop.provider_id}/time-off"
    listed = client.get(path, headers=shop.owner.headers)
    assert listed.status_code == 200, listed.text
    (entry,) = listed.json()
    assert entry["starts_at"].startswith("2000-01-01")
    day = future_day()
    available = client.get(
        f"/api/v1/providers/{shop.provider_id}/availability",
        params={"service_id": shop.service_id, "from": str(day), "to": str(day)},
    )
    assert available.status_code == 200 and available.json()["slots"]
    assert book(client, register(client), shop, local(day, "10:00")).status_code == 201
    deleted = client.delete(f"{path}/{entry['id']}", headers=shop.owner.headers)
    assert deleted.status_code == 204, deleted.text
    assert client.get(path, headers=shop.owner.headers).json() == []
    # The database itself refuses a new one now (the migration's backstop).
    with pytest.raises(psycopg.errors.CheckViolation, match="time_off_instant_bounds"):
        sql(
            database_url,
            "INSERT INTO time_off (provider_id, starts_at, ends_at) VALUES "
            f"('{shop.provider_id}', '0001-01-01 00:00:00+00', '2000-06-01 00:00:00+00')",
        )


def test_the_migrations_check_constraints_hold_the_same_bounds() -> None:
    text = (Path(versions.__file__).parent / "0004_input_bounds.py").read_text()
    assert f'MONEY = "{bounds.MONEY_MAX_MINOR}"' in text
    assert f"'{bounds.INSTANT_MIN:%Y-%m-%d} 00:00:00+00'" in text
    assert f"'{bounds.INSTANT_MAX:%Y-%m-%d} 00:00:00+00'" in text


def test_a_price_stored_before_the_cap_cannot_be_booked_and_answers_409_not_500(
    client: TestClient, shop: Shop, database_url: str
) -> None:
    # The old API took a price of 2^62; the service row stays, the constraints are NOT VALID.
    sql(
        database_url,
        "ALTER TABLE services DROP CONSTRAINT services_price_bounds; "
        f"UPDATE services SET price_minor = {2**62} WHERE id = '{shop.service_id}'; "
        "ALTER TABLE services ADD CONSTRAINT services_price_bounds "
        "CHECK (price_minor <= 100000000) NOT VALID",
    )
    listed = client.get(f"/api/v1/shops/{shop.id}/services")
    assert listed.status_code == 200 and listed.json()[0]["price_minor"] == 2**62
    refused = book(client, register(client), shop, local(future_day(), "10:00"))
    assert refused.status_code == 409, refused.text
    assert refused.json()["details"]["constraint"] == "bookings_money_bounds"
