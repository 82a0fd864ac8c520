"""Demo data for ``chairside up --demo``: shops in two time zones a newcomer can book at once.

Three shops (two in Berlin, one in New York), two providers each, a small menu, weekly
hours with a lunch break, a demo owner and a demo client with a few bookings. Seeding
is idempotent: a database that already has the demo owner is left alone. The accounts
and passwords are listed in docs/booking.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from chairside.accounts import passwords
from chairside.accounts.models import User
from chairside.audit import service as audit
from chairside.booking.availability import buffered
from chairside.booking.models import Booking, Review
from chairside.config import load_settings
from chairside.db import make_engine, make_session_factory, normalize_url, transaction
from chairside.payments.models import Payment
from chairside.shops.models import (
    Provider,
    Service,
    Shop,
    WorkingBreak,
    WorkingHours,
    provider_services,
)

DEMO_PASSWORD = "chairside-demo-1"
OWNER_EMAIL = "owner@demo.chairside.dev"
CLIENT_EMAIL = "client@demo.chairside.dev"
PROVIDER_EMAIL = "provider@demo.chairside.dev"


@dataclass(frozen=True)
class DemoShop:
    name: str
    address: str
    latitude: float
    longitude: float
    timezone: str
    currency: str
    providers: tuple[str, str]


SHOPS = (
    DemoShop(
        "Kiez Cuts",
        "Oranienstr. 12, Berlin",
        52.5006,
        13.4237,
        "Europe/Berlin",
        "EUR",
        ("Mia", "Jonas"),
    ),
    DemoShop(
        "Spree Salon",
        "Friedrichstr. 80, Berlin",
        52.5145,
        13.3890,
        "Europe/Berlin",
        "EUR",
        ("Lena", "Tarik"),
    ),
    DemoShop(
        "Hudson Barbers",
        "88 Hudson St, New York",
        40.7196,
        -74.0089,
        "America/New_York",
        "USD",
        ("Sam", "Rosa"),
    ),
)
# name, minutes, price (minor units), buffer before, buffer after
MENU = (
    ("Haircut", 30, 2800, 0, 5),
    ("Beard trim", 20, 1500, 0, 5),
    ("Colour", 90, 8500, 10, 10),
)


def demo_logins() -> dict[str, dict[str, str]]:
    """The demo accounts people log in with in the web app (``up --demo`` prints them)."""
    return {
        "client": {"email": CLIENT_EMAIL, "password": DEMO_PASSWORD, "page": "/find"},
        "owner": {"email": OWNER_EMAIL, "password": DEMO_PASSWORD, "page": "/owner"},
    }


def seed_demo(database_url: str) -> str:
    """Seed demo data into the database at ``database_url``; returns a one-line summary."""
    engine = make_engine(normalize_url(database_url), pool_size=1)
    try:
        with transaction(make_session_factory(engine)) as session:
            return _seed(session)
    finally:
        engine.dispose()


def _seed(session: Session) -> str:
    if session.scalar(select(User.id).where(func.lower(User.email) == OWNER_EMAIL)):
        return f"demo data already present (owner {OWNER_EMAIL})"
    # The demo accounts are hashed with the default cost, like any real account.
    settings = load_settings()
    hashed = passwords.hash_password(DEMO_PASSWORD, settings=settings)
    owner = User(email=OWNER_EMAIL, full_name="Dana Demo", password_hash=hashed, role="owner")
    client = User(email=CLIENT_EMAIL, full_name="Chris Client", password_hash=hashed, role="client")
    staff = User(email=PROVIDER_EMAIL, full_name="Mia Demo", password_hash=hashed, role="provider")
    session.add_all([owner, client, staff])
    session.flush()
    now = datetime.now(UTC)
    bookings = 0
    for index, spec in enumerate(SHOPS):
        shop = Shop(
            owner_id=owner.id,
            name=spec.name,
            address=spec.address,
            latitude=spec.latitude,
            longitude=spec.longitude,
            timezone=spec.timezone,
            currency=spec.currency,
            free_cancel_hours=24,
            late_cancel_fee_minor=1000,
            min_notice_minutes=60,
            slot_step_minutes=15,
        )
        session.add(shop)
        session.flush()
        services = [
            Service(
                shop_id=shop.id,
                name=name,
                duration_minutes=minutes,
                price_minor=price,
                buffer_before_minutes=before,
                buffer_after_minutes=after,
            )
            for name, minutes, price, before, after in MENU
        ]
        session.add_all(services)
        providers = [
            Provider(
                shop_id=shop.id,
                name=name,
                user_id=staff.id if index == 0 and name == "Mia" else None,
            )
            for name in spec.providers
        ]
        session.add_all(providers)
        session.flush()
        for provider in providers:
            session.execute(
                insert(provider_services),
                [{"provider_id": provider.id, "service_id": s.id} for s in services],
            )
            for weekday in range(6):  # Monday to Saturday
                session.add(
                    WorkingHours(
                        provider_id=provider.id, weekday=weekday, starts=time(9), ends=time(18)
                    )
                )
                session.add(
                    WorkingBreak(
                        provider_id=provider.id,
                        weekday=weekday,
                        starts=time(13),
                        ends=time(13, 30),
                    )
                )
        bookings += _demo_bookings(session, shop, providers[0], services[0], client, now)
    session.flush()
    audit.record(
        session=session,
        actor=None,
        action="demo.seeded",
        entity="demo",
        entity_id="demo",
        after={"shops": len(SHOPS), "bookings": bookings},
    )
    return (
        f"{len(SHOPS)} demo shops (Berlin, New York), {bookings} bookings; log in as "
        f"{OWNER_EMAIL} or {CLIENT_EMAIL} with password {DEMO_PASSWORD}"
    )


def _demo_bookings(
    session: Session, shop: Shop, provider: Provider, service: Service, client: User, now: datetime
) -> int:
    """A completed and reviewed visit last week, and a paid one in a few days."""
    zone = ZoneInfo(shop.timezone)
    today = now.astimezone(zone).date()
    made = 0
    for days, status in ((-7, "completed"), (3, "confirmed")):
        day = today + timedelta(days=days)
        while day.weekday() == 6:  # the demo shops are closed on Sundays
            day += timedelta(days=1)
        start = datetime.combine(day, time(10), tzinfo=zone).astimezone(UTC)
        lo, hi = buffered(service, start)
        booking = Booking(
            shop_id=shop.id,
            provider_id=provider.id,
            service_id=service.id,
            client_id=client.id,
            status=status,
            starts_at=start,
            ends_at=start + timedelta(minutes=service.duration_minutes),
            buffered_starts_at=lo,
            buffered_ends_at=hi,
            price_minor=service.price_minor,
            currency=shop.currency,
        )
        session.add(booking)
        session.flush()
        session.add(
            Payment(
                booking_id=booking.id,
                provider="simulated",
                provider_ref=f"sim_ch_demo_{booking.id.hex[:16]}",
                amount_minor=service.price_minor,
                refunded_minor=0,
                currency=shop.currency,
                status="succeeded",
                card_last4="4242",
            )
        )
        if status == "completed":
            session.add(
                Review(
                    booking_id=booking.id,
                    client_id=client.id,
                    provider_id=provider.id,
                    rating=5,
                    text="Quick, friendly, great cut.",
                )
            )
        made += 1
    return made
