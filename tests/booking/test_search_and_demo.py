"""Searching providers near a point, and the demo data that makes search useful at once."""

from __future__ import annotations

from fastapi.testclient import TestClient

from chairside.demo import CLIENT_EMAIL, DEMO_PASSWORD, seed_demo
from tests.booking.world import make_shop, sql

BERLIN_MITTE = {"lat": 52.5200, "lon": 13.4050}


def test_search_returns_nearby_providers_nearest_first_with_a_next_free_slot(
    client: TestClient,
) -> None:
    far = make_shop(client, latitude=52.60, longitude=13.40, name="Far")  # ~9 km north
    near = make_shop(client, latitude=52.521, longitude=13.406, name="Near")
    make_shop(client, latitude=48.14, longitude=11.58, name="Munich")
    make_shop(client, latitude=52.52, longitude=13.405, service_name="Nails", name="Nails")
    hits = client.get(
        "/api/v1/search/providers", params={"service": "haircut", "radius_km": 15, **BERLIN_MITTE}
    ).json()
    assert [h["shop_id"] for h in hits] == [near.id, far.id]
    assert hits[0]["distance_km"] < 0.5 < hits[1]["distance_km"] < 15
    assert hits[0]["next_free_slot"] is not None
    assert hits[0]["next_free_slot"].endswith(("+01:00", "+02:00"))
    narrow = client.get(
        "/api/v1/search/providers", params={"service": "haircut", "radius_km": 2, **BERLIN_MITTE}
    ).json()
    assert [h["shop_id"] for h in narrow] == [near.id]


def test_a_radius_of_ten_thousand_km_or_a_bad_point_is_422(client: TestClient) -> None:
    huge = client.get(
        "/api/v1/search/providers",
        params={"service": "haircut", "radius_km": 10000, **BERLIN_MITTE},
    )
    assert huge.status_code == 422
    assert huge.json()["errors"][0]["field"] == "query.radius_km"
    bad = client.get("/api/v1/search/providers", params={"service": "haircut", "lat": 95, "lon": 0})
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "query.lat"


def test_the_search_uses_the_location_index_among_thousands_of_shops(
    client: TestClient, database_url: str
) -> None:
    owner = make_shop(client).owner
    sql(
        database_url,
        """
        INSERT INTO shops (owner_id, name, latitude, longitude, timezone, currency)
        SELECT %(owner)s, 'shop ' || i, 35 + (i %% 100) * 0.2, -10 + (i / 100) * 0.8,
               'Europe/Berlin', 'EUR'
        FROM generate_series(1, 5000) AS i
        """,
        {"owner": owner.id},
    )
    sql(database_url, "ANALYZE shops")
    plan = sql(
        database_url,
        """
        EXPLAIN SELECT id FROM shops
        WHERE earth_box(ll_to_earth(52.52, 13.40), 5000) @> ll_to_earth(latitude, longitude)
        """,
    )
    assert "shops_location" in " ".join(row[0] for row in plan)


def test_demo_data_seeds_once_and_can_be_searched_and_booked(
    client: TestClient, database_url: str
) -> None:
    summary = seed_demo(database_url)
    assert "3 demo shops" in summary
    assert "already present" in seed_demo(database_url)
    berlin = client.get(
        "/api/v1/search/providers", params={"service": "haircut", "radius_km": 10, **BERLIN_MITTE}
    ).json()
    assert len(berlin) == 4
    assert {h["timezone"] for h in berlin} == {"Europe/Berlin"}
    new_york = client.get(
        "/api/v1/search/providers",
        params={"service": "beard", "radius_km": 10, "lat": 40.7128, "lon": -74.0060},
    ).json()
    assert {h["currency"] for h in new_york} == {"USD"}
    login = client.post(
        "/api/v1/auth/login", json={"email": CLIENT_EMAIL, "password": DEMO_PASSWORD}
    )
    token = login.json()["access_token"]
    mine = client.get("/api/v1/bookings", headers={"Authorization": f"Bearer {token}"}).json()
    assert {b["status"] for b in mine} == {"completed", "confirmed"}
    assert sql(
        database_url,
        """
        SELECT count(*) FROM bookings a JOIN bookings b
          ON a.provider_id = b.provider_id AND a.id < b.id
         AND tstzrange(a.buffered_starts_at, a.buffered_ends_at)
             && tstzrange(b.buffered_starts_at, b.buffered_ends_at)
        """,
    ) == [(0,)]
