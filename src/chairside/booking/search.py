"""Providers near a point offering a service, nearest first, with their next free slot.

Distance uses PostgreSQL's earthdistance: ``earth_box`` narrows candidates through the
GiST index on ``ll_to_earth(latitude, longitude)`` (migration 0002), and
``earth_distance`` then keeps those truly within the radius and orders them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.orm import Session

from chairside.booking import availability
from chairside.bounds import MAX_RADIUS_KM, MIN_RADIUS_KM
from chairside.errors import InputError
from chairside.shops.models import Provider, Service, Shop

SLOT_HORIZON_DAYS = 14

_QUERY = text(
    """
    SELECT p.id AS provider_id, s.id AS service_id, sh.id AS shop_id,
           earth_distance(ll_to_earth(:lat, :lon), ll_to_earth(sh.latitude, sh.longitude))
               AS meters
    FROM shops sh
    JOIN providers p ON p.shop_id = sh.id AND p.active
    JOIN provider_services ps ON ps.provider_id = p.id
    JOIN services s ON s.id = ps.service_id AND s.active
    WHERE earth_box(ll_to_earth(:lat, :lon), :meters) @> ll_to_earth(sh.latitude, sh.longitude)
      AND earth_distance(ll_to_earth(:lat, :lon), ll_to_earth(sh.latitude, sh.longitude))
          <= :meters
      AND (s.id::text = :service OR lower(s.name) LIKE :pattern)
    ORDER BY meters, p.name, p.id
    LIMIT :limit
    """
)


@dataclass(frozen=True)
class NearbyProvider:
    """One search hit."""

    shop: Shop
    provider: Provider
    service: Service
    distance_km: float
    next_free_slot: datetime | None


def search_providers(
    *,
    session: Session,
    service: str,
    latitude: float,
    longitude: float,
    radius_km: float,
    limit: int = 20,
    now: datetime | None = None,
) -> list[NearbyProvider]:
    """Providers offering ``service`` (a name fragment or a service id) within the radius."""
    if not MIN_RADIUS_KM <= radius_km <= MAX_RADIUS_KM:
        raise InputError(
            f"radius_km {radius_km} is out of range; allowed: at least {MIN_RADIUS_KM:g} "
            f"and at most {MAX_RADIUS_KM:g}",
            field="radius_km",
        )
    term = service.strip().lower()
    if not term:
        raise InputError(
            "service must name a service (e.g. 'haircut') or be a service id", field="service"
        )
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    rows = session.execute(
        _QUERY,
        {
            "lat": latitude,
            "lon": longitude,
            "meters": radius_km * 1000.0,
            "service": term,
            "pattern": f"%{escaped}%",
            "limit": limit,
        },
    ).all()
    now = now or datetime.now(UTC)
    hits = []
    for row in rows:
        shop = session.get(Shop, row.shop_id)
        provider = session.get(Provider, row.provider_id)
        svc = session.get(Service, row.service_id)
        assert shop is not None and provider is not None and svc is not None
        hits.append(
            NearbyProvider(
                shop=shop,
                provider=provider,
                service=svc,
                distance_km=round(float(row.meters) / 1000.0, 3),
                next_free_slot=next_free_slot(
                    session=session, shop=shop, provider=provider, service=svc, now=now
                ),
            )
        )
    return hits


def next_free_slot(
    *, session: Session, shop: Shop, provider: Provider, service: Service, now: datetime
) -> datetime | None:
    """The first free start time within the next two weeks, or None."""
    zone = ZoneInfo(shop.timezone)
    first_day = now.astimezone(zone).date()
    last_day = first_day + timedelta(days=SLOT_HORIZON_DAYS - 1)
    window = (now, availability.local_day_bounds(last_day, zone)[1])
    schedule = availability.load_schedule(
        session=session, shop=shop, provider=provider, window=window, now=now
    )
    slots = availability.free_slots(
        schedule=schedule, service=service, first_day=first_day, last_day=last_day, now=now
    )
    return next(slots, None)
