"""A shop's staff and services, each provider's weekly hours and time off, as owner pages."""

from __future__ import annotations

import uuid
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from chairside.api.deps import SessionDep
from chairside.errors import InputError, NotFoundError
from chairside.shops import schemas
from chairside.shops import service as shops
from chairside.shops.models import Provider, Shop
from chairside.webapp.csrf import CheckedForm
from chairside.webapp.owner import forms
from chairside.webapp.render import FormErrors, page, reject
from chairside.webapp.route import WebRoute
from chairside.webapp.session import OwnerPerson

router = APIRouter(prefix="/owner", route_class=WebRoute, include_in_schema=False)

SERVICE_LABELS = {
    "name": "service name",
    "duration_minutes": "duration",
    "price": "price",
    "buffer_before_minutes": "buffer before",
    "buffer_after_minutes": "buffer after",
}
TIME_OFF_FIELDS = {"starts_at": "start_date", "ends_at": "end_date"}


# --- staff ----------------------------------------------------------------------------


def _staff_page(
    request: Request,
    session: SessionDep,
    shop: Shop,
    *,
    errors: FormErrors | None = None,
    values: dict[str, str] | None = None,
    chosen: list[str] | None = None,
) -> dict[str, Any]:
    providers = shops.list_providers(session=session, shop_id=shop.id)
    services = shops.list_services(session=session, shop_id=shop.id)
    names = {s.id: s.name for s in services}
    performs = {p.id: shops.service_ids_of(session=session, provider_id=p.id) for p in providers}
    offered = {p.id: [names[i] for i in performs[p.id] if i in names] for p in providers}
    return {
        "title": f"Staff of {shop.name}",
        "shop": shop,
        "tab": "staff",
        "providers": providers,
        "services": services,
        "offered": offered,
        "performs": performs,
        "chosen": chosen or [],
    }


@router.get("/shops/{shop_id}/staff")
def staff_page(
    request: Request, shop_id: uuid.UUID, person: OwnerPerson, session: SessionDep
) -> Response:
    """The shop's providers and the form to add one."""
    shop = shops.owned_shop(session=session, actor=person, shop_id=shop_id)
    return page(request, "owner/staff.html", **_staff_page(request, session, shop))


@router.post("/shops/{shop_id}/staff")
def add_provider(
    request: Request,
    shop_id: uuid.UUID,
    form: CheckedForm,
    person: OwnerPerson,
    session: SessionDep,
) -> Response:
    """Add a member of staff (shops.service.add_provider)."""
    shop = shops.owned_shop(session=session, actor=person, shop_id=shop_id)
    values = forms.form_values(form)
    chosen = [v for v in form.getlist("service_ids") if isinstance(v, str)]
    email = values.get("user_email", "").strip()

    def again(found: FormErrors) -> Exception:
        return reject(
            request,
            "owner/staff.html",
            errors=found,
            values=values,
            **_staff_page(request, session, shop, chosen=chosen),
        )

    try:
        data = schemas.ProviderIn.model_validate(
            {"name": values.get("name", ""), "user_email": email or None, "service_ids": chosen}
        )
    except ValidationError as exc:
        labels = {"name": "name", "user_email": "account e-mail", "service_ids": "services"}
        raise again(forms.validation_errors(exc, labels=labels)) from None
    try:
        with session.begin_nested():  # a refusal undoes its writes (package doc)
            shops.add_provider(session=session, actor=person, shop_id=shop.id, data=data)
    except NotFoundError:
        raise
    except InputError as exc:
        raise again(forms.service_errors(exc, whole="name")) from None
    return RedirectResponse(f"/owner/shops/{shop.id}/staff", status_code=303)


@router.post("/providers/{provider_id}/services")
def set_provider_services(
    request: Request,
    provider_id: uuid.UUID,
    form: CheckedForm,
    person: OwnerPerson,
    session: SessionDep,
) -> Response:
    """Replace what a provider performs (shops.service.set_provider_services)."""
    provider, shop = shops.owned_provider(session=session, actor=person, provider_id=provider_id)
    chosen = [v for v in form.getlist("service_ids") if isinstance(v, str)]
    field = f"services-{provider.id}"

    def again(message: str) -> Exception:
        return reject(
            request,
            "owner/staff.html",
            errors=FormErrors({field: message}),
            values={},
            **_staff_page(request, session, shop),
        )

    try:
        data = schemas.ProviderServicesIn.model_validate({"service_ids": chosen})
    except ValidationError:
        raise again(f"Services of {provider.name}: choose from the list.") from None
    try:
        with session.begin_nested():  # a refusal undoes its writes (package doc)
            shops.set_provider_services(
                session=session, actor=person, provider_id=provider.id, service_ids=data.service_ids
            )
    except NotFoundError:
        raise
    except InputError as exc:
        raise again(f"Services of {provider.name}: {exc.message}.") from None
    return RedirectResponse(f"/owner/shops/{shop.id}/staff", status_code=303)


# --- services -------------------------------------------------------------------------


def _services_page(session: SessionDep, shop: Shop) -> dict[str, Any]:
    services = shops.list_services(session=session, shop_id=shop.id)
    return {
        "title": f"Services of {shop.name}",
        "shop": shop,
        "tab": "services",
        "services": services,
        "prices": {s.id: forms.money(s.price_minor, shop.currency) for s in services},
    }


@router.get("/shops/{shop_id}/services")
def services_page(
    request: Request, shop_id: uuid.UUID, person: OwnerPerson, session: SessionDep
) -> Response:
    """The shop's menu and the form to add a service."""
    shop = shops.owned_shop(session=session, actor=person, shop_id=shop_id)
    return page(
        request,
        "owner/services.html",
        values={
            "duration_minutes": "30",
            "buffer_before_minutes": "0",
            "buffer_after_minutes": "0",
        },
        **_services_page(session, shop),
    )


@router.post("/shops/{shop_id}/services")
def add_service(
    request: Request,
    shop_id: uuid.UUID,
    form: CheckedForm,
    person: OwnerPerson,
    session: SessionDep,
) -> Response:
    """Add a service (shops.service.add_service)."""
    shop = shops.owned_shop(session=session, actor=person, shop_id=shop_id)
    values = forms.form_values(form)
    errors = FormErrors()
    raw: dict[str, Any] = {
        name: values.get(name, "")
        for name in ("name", "duration_minutes", "buffer_before_minutes", "buffer_after_minutes")
    }
    try:
        raw["price_minor"] = forms.minor_units(values.get("price", ""))
    except forms.Unparsed as exc:
        errors.add("price", f"Price: {exc}.")
        raw["price_minor"] = 0

    def again(found: FormErrors) -> Exception:
        return reject(
            request,
            "owner/services.html",
            errors=found,
            values=values,
            **_services_page(session, shop),
        )

    try:
        data = schemas.ServiceIn.model_validate(raw)
    except ValidationError as exc:
        found = forms.validation_errors(exc, fields={"price_minor": "price"}, labels=SERVICE_LABELS)
        for name, message in found.messages.items():
            errors.add(name, message)
        raise again(errors) from None
    if errors:
        raise again(errors)
    try:
        with session.begin_nested():  # a refusal undoes its writes (package doc)
            shops.add_service(session=session, actor=person, shop_id=shop.id, data=data)
    except NotFoundError:
        raise
    except InputError as exc:
        raise again(forms.service_errors(exc, fields={"price_minor": "price"})) from None
    return RedirectResponse(f"/owner/shops/{shop.id}/services", status_code=303)


# --- weekly hours ---------------------------------------------------------------------


def _hours_page(provider: Provider, shop: Shop) -> dict[str, Any]:
    return {
        "title": f"Weekly hours of {provider.name}",
        "shop": shop,
        "provider": provider,
        "tab": "staff",
        "weekdays": list(enumerate(forms.WEEKDAYS)),
        "field_of": forms.hours_field,
    }


@router.get("/providers/{provider_id}/hours")
def hours_page(
    request: Request, provider_id: uuid.UUID, person: OwnerPerson, session: SessionDep
) -> Response:
    """A provider's weekly hours as a form, one row per weekday."""
    provider, shop = shops.owned_provider(session=session, actor=person, provider_id=provider_id)
    days = shops.weekly_hours(session=session, provider_id=provider.id)
    return page(
        request,
        "owner/hours.html",
        values=forms.hours_values(days),
        saved=request.query_params.get("saved") == "1",
        **_hours_page(provider, shop),
    )


@router.post("/providers/{provider_id}/hours")
def set_hours(
    request: Request,
    provider_id: uuid.UUID,
    form: CheckedForm,
    person: OwnerPerson,
    session: SessionDep,
) -> Response:
    """Replace the weekly hours (shops.service.set_weekly_hours)."""
    provider, shop = shops.owned_provider(session=session, actor=person, provider_id=provider_id)
    values = forms.form_values(form)
    days, errors = forms.parse_hours(values)

    def again(found: FormErrors) -> Exception:
        return reject(
            request, "owner/hours.html", errors=found, values=values, **_hours_page(provider, shop)
        )

    if errors:
        raise again(errors)
    try:
        with session.begin_nested():  # a refusal undoes its writes (package doc)
            shops.set_weekly_hours(
                session=session, actor=person, provider_id=provider.id, days=days
            )
    except NotFoundError:
        raise
    except InputError as exc:
        raise again(forms.service_errors(exc, fields={"days": forms.overlap_field(exc)})) from None
    return RedirectResponse(f"/owner/providers/{provider.id}/hours?saved=1", status_code=303)


# --- time off -------------------------------------------------------------------------


def _time_off_page(
    session: SessionDep, person: OwnerPerson, provider: Provider, shop: Shop
) -> dict[str, Any]:
    zone = ZoneInfo(shop.timezone)
    entries = shops.list_time_off(session=session, actor=person, provider_id=provider.id)
    shown = [
        {
            "id": e.id,
            "starts": e.starts_at.astimezone(zone).strftime("%a %d %b %Y, %H:%M"),
            "ends": e.ends_at.astimezone(zone).strftime("%a %d %b %Y, %H:%M"),
            "reason": e.reason,
        }
        for e in entries
    ]
    return {
        "title": f"Time off of {provider.name}",
        "shop": shop,
        "provider": provider,
        "tab": "staff",
        "entries": shown,
    }


@router.get("/providers/{provider_id}/time-off")
def time_off_page(
    request: Request, provider_id: uuid.UUID, person: OwnerPerson, session: SessionDep
) -> Response:
    """A provider's time off and the form to add some."""
    provider, shop = shops.owned_provider(session=session, actor=person, provider_id=provider_id)
    return page(
        request,
        "owner/time_off.html",
        values={"start_time": "00:00", "end_time": "23:59"},
        **_time_off_page(session, person, provider, shop),
    )


@router.post("/providers/{provider_id}/time-off")
def add_time_off(
    request: Request,
    provider_id: uuid.UUID,
    form: CheckedForm,
    person: OwnerPerson,
    session: SessionDep,
) -> Response:
    """Block an interval, given in the shop's local time (shops.service.add_time_off)."""
    provider, shop = shops.owned_provider(session=session, actor=person, provider_id=provider_id)
    values = forms.form_values(form)
    zone = ZoneInfo(shop.timezone)
    errors = FormErrors()
    raw: dict[str, Any] = {"reason": values.get("reason", "")}
    for key, day_field, time_field in (
        ("starts_at", "start_date", "start_time"),
        ("ends_at", "end_date", "end_time"),
    ):
        try:
            raw[key] = forms.local_instant(
                values.get(day_field, ""), values.get(time_field, ""), zone
            )
        except forms.Unparsed as exc:
            field = time_field if "time" in str(exc) else day_field
            errors.add(field, f"{field.replace('_', ' ').capitalize()}: {exc}.")

    def again(found: FormErrors) -> Exception:
        return reject(
            request,
            "owner/time_off.html",
            errors=found,
            values=values,
            **_time_off_page(session, person, provider, shop),
        )

    if errors:
        raise again(errors)
    try:
        data = schemas.TimeOffIn.model_validate(raw)
    except ValidationError as exc:
        labels = {"start_date": "start", "end_date": "end", "reason": "reason"}
        raise again(
            forms.validation_errors(exc, fields=TIME_OFF_FIELDS, labels=labels, whole="end_date")
        ) from None
    try:
        with session.begin_nested():  # a refusal undoes its writes (package doc)
            shops.add_time_off(session=session, actor=person, provider_id=provider.id, data=data)
    except NotFoundError:
        raise
    except InputError as exc:
        raise again(forms.service_errors(exc, fields=TIME_OFF_FIELDS, whole="end_date")) from None
    return RedirectResponse(f"/owner/providers/{provider.id}/time-off", status_code=303)


@router.post("/providers/{provider_id}/time-off/{time_off_id}/delete")
def delete_time_off(
    provider_id: uuid.UUID,
    time_off_id: uuid.UUID,
    form: CheckedForm,
    person: OwnerPerson,
    session: SessionDep,
) -> Response:
    """Remove a time-off entry (shops.service.delete_time_off)."""
    provider, _ = shops.owned_provider(session=session, actor=person, provider_id=provider_id)
    shops.delete_time_off(
        session=session, actor=person, provider_id=provider.id, time_off_id=time_off_id
    )
    return RedirectResponse(f"/owner/providers/{provider.id}/time-off", status_code=303)
