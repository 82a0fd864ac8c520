"""Shops, providers, services, weekly hours and time off.

Only a shop's owner (or an admin) changes it; for anyone else a shop they do not own
does not exist (404), so ids of other tenants leak nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Row, delete, func, insert, select
from sqlalchemy.orm import Session

from chairside.accounts.models import User
from chairside.accounts.principal import Principal
from chairside.audit import service as audit
from chairside.booking import availability_cache
from chairside.bounds import clamped_instant
from chairside.errors import InputError, NotFoundError, PermissionDeniedError
from chairside.shops import schemas
from chairside.shops.models import (
    Provider,
    Service,
    Shop,
    TimeOff,
    WorkingBreak,
    WorkingHours,
    provider_services,
)

SHOP_FIELDS = (
    "name",
    "address",
    "latitude",
    "longitude",
    "timezone",
    "currency",
    "free_cancel_hours",
    "late_cancel_fee_minor",
    "min_notice_minutes",
    "slot_step_minutes",
    "reminder_lead_minutes",
    "reminder_quiet_start",
    "reminder_quiet_end",
)


def _snapshot(obj: object, fields: Sequence[str]) -> dict[str, Any]:
    return {name: getattr(obj, name) for name in fields}


def create_shop(*, session: Session, actor: Principal, data: schemas.ShopIn) -> Shop:
    """A new shop owned by the caller (a shop owner or an admin)."""
    if actor.role not in ("owner", "admin"):
        raise PermissionDeniedError(f"only shop owners create shops; your role is {actor.role!r}")
    shop = Shop(owner_id=actor.id, **data.model_dump())
    session.add(shop)
    session.flush()
    audit.record(
        session=session,
        actor=actor,
        action="shop.created",
        entity="shop",
        entity_id=shop.id,
        after=_snapshot(shop, SHOP_FIELDS),
    )
    return shop


def get_shop(*, session: Session, shop_id: uuid.UUID) -> Shop:
    """A shop, as anyone may see it."""
    shop = session.get(Shop, shop_id)
    if shop is None:
        raise NotFoundError(f"no shop {shop_id}")
    return shop


def owned_shop(*, session: Session, actor: Principal, shop_id: uuid.UUID) -> Shop:
    """A shop the caller may change; 404 for everyone but its owner and admins."""
    shop = session.get(Shop, shop_id)
    if shop is None or not (actor.is_admin or shop.owner_id == actor.id):
        raise NotFoundError(f"no shop {shop_id} among yours")
    return shop


def list_owned_shops(*, session: Session, actor: Principal) -> Sequence[Shop]:
    """The caller's shops (every shop for an admin)."""
    query = select(Shop).order_by(Shop.created_at)
    if not actor.is_admin:
        query = query.where(Shop.owner_id == actor.id)
    return session.scalars(query).all()


def update_shop(
    *, session: Session, actor: Principal, shop_id: uuid.UUID, patch: schemas.ShopPatch
) -> Shop:
    """Change the fields given in ``patch``."""
    shop = owned_shop(session=session, actor=actor, shop_id=shop_id)
    before = _snapshot(shop, SHOP_FIELDS)
    for name, value in patch.model_dump(exclude_unset=True).items():
        if value is None:
            raise InputError(f"{name} cannot be null", field=name)
        setattr(shop, name, value)
    session.flush()
    # Time zone, notice and step move every provider's free times.
    providers = session.scalars(select(Provider.id).where(Provider.shop_id == shop.id))
    availability_cache.note_changed(session, *providers)
    audit.record(
        session=session,
        actor=actor,
        action="shop.updated",
        entity="shop",
        entity_id=shop.id,
        before=before,
        after=_snapshot(shop, SHOP_FIELDS),
    )
    return shop


def add_provider(
    *, session: Session, actor: Principal, shop_id: uuid.UUID, data: schemas.ProviderIn
) -> Provider:
    """Add a member of staff, optionally linked to a registered provider account."""
    shop = owned_shop(session=session, actor=actor, shop_id=shop_id)
    user_id = None
    if data.user_email:
        user = session.scalar(
            select(User).where(func.lower(User.email) == data.user_email.strip().lower())
        )
        if user is None or user.role != "provider":
            raise InputError(
                f"no provider account with e-mail {data.user_email!r}; the person registers "
                "with role 'provider' first",
                field="user_email",
            )
        user_id = user.id
    provider = Provider(shop_id=shop.id, name=data.name, user_id=user_id)
    session.add(provider)
    session.flush()
    _link_services(session=session, shop=shop, provider=provider, service_ids=data.service_ids)
    audit.record(
        session=session,
        actor=actor,
        action="provider.created",
        entity="provider",
        entity_id=provider.id,
        after={"shop_id": shop.id, "name": provider.name, "user_id": user_id},
    )
    return provider


def get_provider(*, session: Session, provider_id: uuid.UUID) -> Provider:
    """A provider, as anyone may see it."""
    provider = session.get(Provider, provider_id)
    if provider is None or not provider.active:
        raise NotFoundError(f"no provider {provider_id}")
    return provider


def owned_provider(
    *, session: Session, actor: Principal, provider_id: uuid.UUID
) -> tuple[Provider, Shop]:
    """A provider whose shop the caller owns (or an admin); 404 otherwise."""
    provider = session.get(Provider, provider_id)
    shop = session.get(Shop, provider.shop_id) if provider else None
    if provider is None or shop is None or not (actor.is_admin or shop.owner_id == actor.id):
        raise NotFoundError(f"no provider {provider_id} in your shops")
    return provider, shop


def list_providers(*, session: Session, shop_id: uuid.UUID) -> Sequence[Provider]:
    """The active providers of a shop."""
    get_shop(session=session, shop_id=shop_id)
    return session.scalars(
        select(Provider)
        .where(Provider.shop_id == shop_id, Provider.active)
        .order_by(Provider.created_at)
    ).all()


def service_ids_of(*, session: Session, provider_id: uuid.UUID) -> list[uuid.UUID]:
    """The services a provider performs."""
    rows = session.execute(
        select(provider_services.c.service_id).where(provider_services.c.provider_id == provider_id)
    )
    return [row[0] for row in rows]


def add_service(
    *, session: Session, actor: Principal, shop_id: uuid.UUID, data: schemas.ServiceIn
) -> Service:
    """A new service on the shop's menu."""
    shop = owned_shop(session=session, actor=actor, shop_id=shop_id)
    service = Service(shop_id=shop.id, **data.model_dump())
    session.add(service)
    session.flush()
    audit.record(
        session=session,
        actor=actor,
        action="service.created",
        entity="service",
        entity_id=service.id,
        after=data.model_dump(),
    )
    return service


def list_services(*, session: Session, shop_id: uuid.UUID) -> Sequence[Service]:
    """The active services of a shop."""
    get_shop(session=session, shop_id=shop_id)
    return session.scalars(
        select(Service).where(Service.shop_id == shop_id, Service.active).order_by(Service.name)
    ).all()


def get_service(*, session: Session, service_id: uuid.UUID) -> Service:
    """A service, as anyone may see it."""
    service = session.get(Service, service_id)
    if service is None or not service.active:
        raise NotFoundError(f"no service {service_id}", field="service_id")
    return service


def set_provider_services(
    *, session: Session, actor: Principal, provider_id: uuid.UUID, service_ids: list[uuid.UUID]
) -> list[uuid.UUID]:
    """Replace the services a provider performs."""
    provider, shop = owned_provider(session=session, actor=actor, provider_id=provider_id)
    before = service_ids_of(session=session, provider_id=provider.id)
    session.execute(delete(provider_services).where(provider_services.c.provider_id == provider.id))
    _link_services(session=session, shop=shop, provider=provider, service_ids=service_ids)
    availability_cache.note_changed(session, provider.id)
    after = service_ids_of(session=session, provider_id=provider.id)
    audit.record(
        session=session,
        actor=actor,
        action="provider.services_changed",
        entity="provider",
        entity_id=provider.id,
        before={"service_ids": [str(i) for i in before]},
        after={"service_ids": [str(i) for i in after]},
    )
    return after


def _link_services(
    *, session: Session, shop: Shop, provider: Provider, service_ids: list[uuid.UUID]
) -> None:
    wanted = set(service_ids)
    if not wanted:
        return
    found = set(
        session.scalars(
            select(Service.id).where(Service.id.in_(wanted), Service.shop_id == shop.id)
        )
    )
    missing = wanted - found
    if missing:
        raise InputError(
            f"service ids not in shop {shop.id}: {', '.join(sorted(map(str, missing)))}",
            field="service_ids",
        )
    session.execute(
        insert(provider_services),
        [{"provider_id": provider.id, "service_id": sid} for sid in sorted(wanted)],
    )


def set_weekly_hours(
    *, session: Session, actor: Principal, provider_id: uuid.UUID, days: list[schemas.DayHours]
) -> list[schemas.DayHours]:
    """Replace a provider's weekly hours and breaks (shop-local wall times)."""
    provider, _ = owned_provider(session=session, actor=actor, provider_id=provider_id)
    _refuse_overlapping_days(days)
    before = weekly_hours(session=session, provider_id=provider.id)
    session.execute(delete(WorkingHours).where(WorkingHours.provider_id == provider.id))
    session.execute(delete(WorkingBreak).where(WorkingBreak.provider_id == provider.id))
    availability_cache.note_changed(session, provider.id)
    for day in days:
        session.add(
            WorkingHours(
                provider_id=provider.id, weekday=day.weekday, starts=day.start, ends=day.end
            )
        )
        for item in day.breaks:
            session.add(
                WorkingBreak(
                    provider_id=provider.id, weekday=day.weekday, starts=item.start, ends=item.end
                )
            )
    session.flush()
    audit.record(
        session=session,
        actor=actor,
        action="provider.hours_changed",
        entity="provider",
        entity_id=provider.id,
        before={"days": [d.model_dump(mode="json") for d in before]},
        after={"days": [d.model_dump(mode="json") for d in days]},
    )
    return weekly_hours(session=session, provider_id=provider.id)


def _refuse_overlapping_days(days: list[schemas.DayHours]) -> None:
    by_day: dict[int, list[schemas.DayHours]] = {}
    for day in days:
        by_day.setdefault(day.weekday, []).append(day)
    for weekday, entries in by_day.items():
        entries.sort(key=lambda d: d.start)
        for first, second in zip(entries, entries[1:], strict=False):
            if second.start < first.end:
                raise InputError(
                    f"weekday {weekday}: hours {first.start}-{first.end} and "
                    f"{second.start}-{second.end} overlap",
                    field="days",
                    details={"weekday": weekday},
                )


def weekly_hours(*, session: Session, provider_id: uuid.UUID) -> list[schemas.DayHours]:
    """A provider's weekly hours with their breaks."""
    hours = session.scalars(
        select(WorkingHours)
        .where(WorkingHours.provider_id == provider_id)
        .order_by(WorkingHours.weekday, WorkingHours.starts)
    ).all()
    breaks = session.scalars(
        select(WorkingBreak)
        .where(WorkingBreak.provider_id == provider_id)
        .order_by(WorkingBreak.weekday, WorkingBreak.starts)
    ).all()
    days = []
    for h in hours:
        inside = [
            schemas.Interval(start=b.starts, end=b.ends)
            for b in breaks
            if b.weekday == h.weekday and b.starts >= h.starts and b.ends <= h.ends
        ]
        days.append(schemas.DayHours(weekday=h.weekday, start=h.starts, end=h.ends, breaks=inside))
    return days


def add_time_off(
    *, session: Session, actor: Principal, provider_id: uuid.UUID, data: schemas.TimeOffIn
) -> TimeOff:
    """Block an absolute interval (holiday, sick day) for a provider; it must end ahead."""
    provider = _provider_for_time_off(session=session, actor=actor, provider_id=provider_id)
    now = datetime.now(UTC)
    if data.ends_at <= now:
        # It would block nothing: almost always a mistyped date, so say so.
        raise InputError(
            f"ends_at {data.ends_at.isoformat()} is in the past; time off must end after "
            f"now ({now.isoformat(timespec='seconds')})",
            field="ends_at",
        )
    entry = TimeOff(
        provider_id=provider.id, starts_at=data.starts_at, ends_at=data.ends_at, reason=data.reason
    )
    session.add(entry)
    session.flush()
    availability_cache.note_changed(session, provider.id)
    audit.record(
        session=session,
        actor=actor,
        action="time_off.created",
        entity="time_off",
        entity_id=entry.id,
        after={"provider_id": provider.id, **data.model_dump(mode="json")},
    )
    return entry


# Time off as read back: instants clamped into the input bounds, so that an entry stored
# before the bounds existed (one from year 0) can still be listed and deleted.
_TIME_OFF_ROW = select(
    TimeOff.id,
    TimeOff.provider_id,
    clamped_instant(TimeOff.starts_at).label("starts_at"),
    clamped_instant(TimeOff.ends_at).label("ends_at"),
    TimeOff.reason,
)


def list_time_off(
    *, session: Session, actor: Principal, provider_id: uuid.UUID
) -> Sequence[Row[Any]]:
    """A provider's time off, for its shop's owner or the provider."""
    provider = _provider_for_time_off(session=session, actor=actor, provider_id=provider_id)
    return session.execute(
        _TIME_OFF_ROW.where(TimeOff.provider_id == provider.id).order_by(TimeOff.starts_at)
    ).all()


def delete_time_off(
    *, session: Session, actor: Principal, provider_id: uuid.UUID, time_off_id: uuid.UUID
) -> None:
    """Remove a time-off entry."""
    provider = _provider_for_time_off(session=session, actor=actor, provider_id=provider_id)
    entry = session.execute(
        _TIME_OFF_ROW.where(TimeOff.id == time_off_id, TimeOff.provider_id == provider.id)
    ).first()
    if entry is None:
        raise NotFoundError(f"no time off {time_off_id} for provider {provider_id}")
    before = {"starts_at": entry.starts_at, "ends_at": entry.ends_at, "reason": entry.reason}
    session.execute(delete(TimeOff).where(TimeOff.id == time_off_id))
    availability_cache.note_changed(session, provider.id)
    audit.record(
        session=session,
        actor=actor,
        action="time_off.deleted",
        entity="time_off",
        entity_id=time_off_id,
        before=before,
    )


def _provider_for_time_off(
    *, session: Session, actor: Principal, provider_id: uuid.UUID
) -> Provider:
    # The provider themself manages their own time off, besides the shop's owner.
    provider = session.get(Provider, provider_id)
    if provider is not None and provider.user_id == actor.id:
        return provider
    return owned_provider(session=session, actor=actor, provider_id=provider_id)[0]
