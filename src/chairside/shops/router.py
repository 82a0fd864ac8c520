"""HTTP routes of shops, providers, services, hours and time off."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, status

from chairside.accounts.deps import CurrentUser
from chairside.api.deps import SessionDep
from chairside.shops import schemas, service

router = APIRouter(prefix="/api/v1", tags=["shops"])


@router.post("/shops", status_code=status.HTTP_201_CREATED, response_model=schemas.ShopOut)
def create_shop(body: schemas.ShopIn, user: CurrentUser, session: SessionDep) -> object:
    """Create a shop (shop owners)."""
    return service.create_shop(session=session, actor=user, data=body)


@router.get("/shops", response_model=list[schemas.ShopOut])
def list_my_shops(user: CurrentUser, session: SessionDep) -> object:
    """The caller's shops."""
    return service.list_owned_shops(session=session, actor=user)


@router.get("/shops/{shop_id}", response_model=schemas.ShopOut)
def get_shop(shop_id: uuid.UUID, session: SessionDep) -> object:
    """A shop's public details."""
    return service.get_shop(session=session, shop_id=shop_id)


@router.patch("/shops/{shop_id}", response_model=schemas.ShopOut)
def update_shop(
    shop_id: uuid.UUID, body: schemas.ShopPatch, user: CurrentUser, session: SessionDep
) -> object:
    """Change a shop (its owner)."""
    return service.update_shop(session=session, actor=user, shop_id=shop_id, patch=body)


@router.post(
    "/shops/{shop_id}/providers",
    status_code=status.HTTP_201_CREATED,
    response_model=schemas.ProviderOut,
)
def add_provider(
    shop_id: uuid.UUID, body: schemas.ProviderIn, user: CurrentUser, session: SessionDep
) -> object:
    """Add a member of staff (the shop's owner)."""
    provider = service.add_provider(session=session, actor=user, shop_id=shop_id, data=body)
    return _provider_out(session, provider)


@router.get("/shops/{shop_id}/providers", response_model=list[schemas.ProviderOut])
def list_providers(shop_id: uuid.UUID, session: SessionDep) -> object:
    """A shop's providers."""
    return [
        _provider_out(session, p) for p in service.list_providers(session=session, shop_id=shop_id)
    ]


@router.post(
    "/shops/{shop_id}/services",
    status_code=status.HTTP_201_CREATED,
    response_model=schemas.ServiceOut,
)
def add_service(
    shop_id: uuid.UUID, body: schemas.ServiceIn, user: CurrentUser, session: SessionDep
) -> object:
    """Add a service to the menu (the shop's owner)."""
    created = service.add_service(session=session, actor=user, shop_id=shop_id, data=body)
    return _service_out(session, created)


@router.get("/shops/{shop_id}/services", response_model=list[schemas.ServiceOut])
def list_services(shop_id: uuid.UUID, session: SessionDep) -> object:
    """A shop's services with prices."""
    return [
        _service_out(session, s) for s in service.list_services(session=session, shop_id=shop_id)
    ]


@router.get("/providers/{provider_id}", response_model=schemas.ProviderOut)
def get_provider(provider_id: uuid.UUID, session: SessionDep) -> object:
    """A provider's public details."""
    return _provider_out(session, service.get_provider(session=session, provider_id=provider_id))


@router.put("/providers/{provider_id}/services", response_model=schemas.ProviderOut)
def set_provider_services(
    provider_id: uuid.UUID, body: schemas.ProviderServicesIn, user: CurrentUser, session: SessionDep
) -> object:
    """Replace the services a provider performs (the shop's owner)."""
    service.set_provider_services(
        session=session, actor=user, provider_id=provider_id, service_ids=body.service_ids
    )
    return _provider_out(session, service.get_provider(session=session, provider_id=provider_id))


@router.put("/providers/{provider_id}/hours", response_model=schemas.WeeklyHoursOut)
def set_hours(
    provider_id: uuid.UUID, body: schemas.WeeklyHoursIn, user: CurrentUser, session: SessionDep
) -> object:
    """Replace a provider's weekly hours and breaks, in the shop's local time."""
    days = service.set_weekly_hours(
        session=session, actor=user, provider_id=provider_id, days=body.days
    )
    return {"provider_id": provider_id, "days": days}


@router.get("/providers/{provider_id}/hours", response_model=schemas.WeeklyHoursOut)
def get_hours(provider_id: uuid.UUID, session: SessionDep) -> object:
    """A provider's weekly hours and breaks."""
    service.get_provider(session=session, provider_id=provider_id)
    return {
        "provider_id": provider_id,
        "days": service.weekly_hours(session=session, provider_id=provider_id),
    }


@router.post(
    "/providers/{provider_id}/time-off",
    status_code=status.HTTP_201_CREATED,
    response_model=schemas.TimeOffOut,
)
def add_time_off(
    provider_id: uuid.UUID, body: schemas.TimeOffIn, user: CurrentUser, session: SessionDep
) -> object:
    """Block an interval for a provider (owner or the provider)."""
    return service.add_time_off(session=session, actor=user, provider_id=provider_id, data=body)


@router.get("/providers/{provider_id}/time-off", response_model=list[schemas.TimeOffOut])
def list_time_off(provider_id: uuid.UUID, user: CurrentUser, session: SessionDep) -> object:
    """A provider's time off (owner or the provider)."""
    return service.list_time_off(session=session, actor=user, provider_id=provider_id)


@router.delete(
    "/providers/{provider_id}/time-off/{time_off_id}", status_code=status.HTTP_204_NO_CONTENT
)
def delete_time_off(
    provider_id: uuid.UUID, time_off_id: uuid.UUID, user: CurrentUser, session: SessionDep
) -> None:
    """Remove a time-off entry (owner or the provider)."""
    service.delete_time_off(
        session=session, actor=user, provider_id=provider_id, time_off_id=time_off_id
    )


def _provider_out(session: SessionDep, provider: object) -> schemas.ProviderOut:
    out = schemas.ProviderOut.model_validate(provider)
    out.service_ids = service.service_ids_of(session=session, provider_id=out.id)
    return out


def _service_out(session: SessionDep, item: object) -> schemas.ServiceOut:
    out = schemas.ServiceOut.model_validate(item)
    out.currency = service.get_shop(session=session, shop_id=out.shop_id).currency
    return out
