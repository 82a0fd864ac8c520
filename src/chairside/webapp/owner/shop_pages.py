"""``/owner``: a shop owner's shops, creating one, its overview and its settings."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from chairside.api.deps import SessionDep
from chairside.errors import InputError, NotFoundError
from chairside.shops import schemas
from chairside.shops import service as shops
from chairside.shops.models import Shop
from chairside.webapp.csrf import CheckedForm
from chairside.webapp.owner import forms
from chairside.webapp.render import FormErrors, page, reject
from chairside.webapp.route import WebRoute
from chairside.webapp.session import OwnerPerson

router = APIRouter(prefix="/owner", route_class=WebRoute, include_in_schema=False)

LABELS = {
    "name": "shop name",
    "address": "address",
    "latitude": "latitude",
    "longitude": "longitude",
    "timezone": "time zone",
    "currency": "currency",
    "free_cancel_hours": "free cancellation window",
    "late_cancel_fee": "late cancellation fee",
    "min_notice_minutes": "minimum notice",
    "slot_step_minutes": "slot step",
}
# Typed as a decimal amount on the form, stored in minor units by the schema.
FIELDS = {"late_cancel_fee_minor": "late_cancel_fee"}
NEW_SHOP_DEFAULTS = {
    "timezone": "Europe/Berlin",
    "currency": "EUR",
    "free_cancel_hours": "24",
    "late_cancel_fee": "0.00",
    "min_notice_minutes": "60",
    "slot_step_minutes": "15",
}
EDITABLE = (
    "name",
    "address",
    "latitude",
    "longitude",
    "timezone",
    "free_cancel_hours",
    "late_cancel_fee",
    "min_notice_minutes",
    "slot_step_minutes",
)


@router.get("")
def owner_home(request: Request, person: OwnerPerson, session: SessionDep) -> Response:
    """The owner's shops, or the way to create the first one."""
    owned = shops.list_owned_shops(session=session, actor=person)
    return page(request, "owner/index.html", title="My shops", shops=owned)


@router.get("/shops/new")
def new_shop_page(request: Request, person: OwnerPerson) -> Response:
    """The form for a new shop."""
    return page(
        request,
        "owner/shop_form.html",
        title="Create your shop",
        shop=None,
        values=NEW_SHOP_DEFAULTS,
    )


@router.post("/shops")
def create_shop(
    request: Request, form: CheckedForm, person: OwnerPerson, session: SessionDep
) -> Response:
    """Create the shop (shops.service.create_shop) and go to its page."""
    values = forms.form_values(form)
    raw, errors = _shop_fields(values, ("currency", *EDITABLE))

    def again(found: FormErrors) -> Exception:
        return reject(
            request,
            "owner/shop_form.html",
            errors=found,
            values=values,
            title="Create your shop",
            shop=None,
        )

    try:
        data = schemas.ShopIn.model_validate(raw)
    except ValidationError as exc:
        for name, message in forms.validation_errors(
            exc, fields=FIELDS, labels=LABELS
        ).messages.items():
            errors.add(name, message)
        raise again(errors) from None
    if errors:
        raise again(errors)
    try:
        with session.begin_nested():  # a refusal undoes its writes (package doc)
            shop = shops.create_shop(session=session, actor=person, data=data)
    except NotFoundError:
        raise
    except InputError as exc:
        raise again(forms.service_errors(exc, fields=FIELDS)) from None
    return RedirectResponse(f"/owner/shops/{shop.id}", status_code=303)


@router.get("/shops/{shop_id}")
def shop_overview(
    request: Request, shop_id: uuid.UUID, person: OwnerPerson, session: SessionDep
) -> Response:
    """A shop at a glance, and the way to everything about it."""
    shop = shops.owned_shop(session=session, actor=person, shop_id=shop_id)
    return page(
        request,
        "owner/shop.html",
        title=shop.name,
        shop=shop,
        tab="overview",
        providers=shops.list_providers(session=session, shop_id=shop.id),
        services=shops.list_services(session=session, shop_id=shop.id),
        late_fee=forms.money(shop.late_cancel_fee_minor, shop.currency),
        saved=request.query_params.get("saved") == "1",
    )


@router.get("/shops/{shop_id}/settings")
def shop_settings_page(
    request: Request, shop_id: uuid.UUID, person: OwnerPerson, session: SessionDep
) -> Response:
    """The shop's settings, filled in."""
    shop = shops.owned_shop(session=session, actor=person, shop_id=shop_id)
    return page(
        request,
        "owner/shop_form.html",
        title=f"Settings of {shop.name}",
        shop=shop,
        tab="settings",
        values=_shop_values(shop),
    )


@router.post("/shops/{shop_id}/settings")
def update_shop(
    request: Request,
    shop_id: uuid.UUID,
    form: CheckedForm,
    person: OwnerPerson,
    session: SessionDep,
) -> Response:
    """Change the shop (shops.service.update_shop)."""
    shop = shops.owned_shop(session=session, actor=person, shop_id=shop_id)
    values = forms.form_values(form)
    raw, errors = _shop_fields(values, EDITABLE)
    title = f"Settings of {shop.name}"

    def again(found: FormErrors) -> Exception:
        return reject(
            request,
            "owner/shop_form.html",
            errors=found,
            values=values,
            title=title,
            shop=shop,
            tab="settings",
        )

    try:
        patch = schemas.ShopPatch.model_validate(raw)
    except ValidationError as exc:
        for name, message in forms.validation_errors(
            exc, fields=FIELDS, labels=LABELS
        ).messages.items():
            errors.add(name, message)
        raise again(errors) from None
    if errors:
        raise again(errors)
    try:
        with session.begin_nested():  # a refusal undoes its writes (package doc)
            shops.update_shop(session=session, actor=person, shop_id=shop.id, patch=patch)
    except NotFoundError:
        raise
    except InputError as exc:
        raise again(forms.service_errors(exc, fields=FIELDS)) from None
    return RedirectResponse(f"/owner/shops/{shop.id}?saved=1", status_code=303)


def _shop_fields(
    values: dict[str, str], names: tuple[str, ...]
) -> tuple[dict[str, Any], FormErrors]:
    """The schema's fields from the form's; a fee that is not an amount is an error."""
    raw: dict[str, Any] = {}
    errors = FormErrors()
    for name in names:
        value = values.get(name, "")
        if name == "late_cancel_fee":
            try:
                raw["late_cancel_fee_minor"] = forms.minor_units(value)
            except forms.Unparsed as exc:
                errors.add(name, f"Late cancellation fee: {exc}.")
            continue
        raw[name] = value.strip() if name in ("timezone", "currency") else value
    return raw, errors


def _shop_values(shop: Shop) -> dict[str, str]:
    return {
        "name": shop.name,
        "address": shop.address,
        "latitude": str(shop.latitude),
        "longitude": str(shop.longitude),
        "timezone": shop.timezone,
        "currency": shop.currency,
        "free_cancel_hours": str(shop.free_cancel_hours),
        "late_cancel_fee": forms.money_field(shop.late_cancel_fee_minor),
        "min_notice_minutes": str(shop.min_notice_minutes),
        "slot_step_minutes": str(shop.slot_step_minutes),
    }
