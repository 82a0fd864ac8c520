"""Clients find a provider and book: ``/find`` (search), ``/book/...`` (a day's free times).

Search is ``booking.search.search_providers`` (on a replica within the lag bound, as the
API's), availability is ``booking.service.availability_json`` (slots.py), booking is
``booking.service.create_booking`` with the API's rate limit. A slot someone else took
first (409) answers with the message and the day's fresh times.
"""

from __future__ import annotations

import dataclasses
import secrets
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError
from sqlalchemy.orm import Session

from chairside.accounts import ratelimit
from chairside.accounts import service as accounts
from chairside.api.context import AppContext
from chairside.api.deps import ContextDep
from chairside.booking import search
from chairside.booking import service as bookings
from chairside.bounds import CleanStr, Instant, Latitude, Longitude, RadiusKm
from chairside.db import transaction
from chairside.errors import AuthError, ConflictError, InputError
from chairside.webapp.csrf import CheckedForm
from chairside.webapp.formatting import local_time
from chairside.webapp.render import FormErrors, page, reject
from chairside.webapp.route import WebRoute
from chairside.webapp.session import ClientPerson, MaybePerson, access_token_of
from chairside.webapp.slots import DayOfSlots, day_of_slots, load_day, parse_day

router = APIRouter(route_class=WebRoute, include_in_schema=False)
_INSTANT: TypeAdapter[Any] = TypeAdapter(Instant)
# Generous: the form, not the query parser, says what is wrong with a long value.
Text = Annotated[str | None, Query(max_length=20_000)]


class SearchForm(BaseModel):
    """The search form: the API's bounds on the same parameters."""

    model_config = ConfigDict(extra="ignore")

    service: CleanStr = Field(min_length=1, max_length=200)
    lat: Latitude
    lon: Longitude
    radius_km: RadiusKm = 10.0


LABELS = {
    "service": "service",
    "lat": "latitude",
    "lon": "longitude",
    "radius_km": "distance",
    "starts_at": "time",
    "day": "day",
}


@router.get("/find")
def find(
    request: Request,
    person: MaybePerson,
    context: ContextDep,
    service: Text = None,
    lat: Text = None,
    lon: Text = None,
    radius_km: Text = None,
) -> Response:
    """The search form, and its results once asked."""
    values = {"service": service, "lat": lat, "lon": lon, "radius_km": radius_km or "10"}
    if service is None and lat is None and lon is None:
        return page(request, "find.html", title="Find a provider", values=values, results=None)
    try:
        form = SearchForm.model_validate({k: v for k, v in values.items() if v not in (None, "")})
        hits = _search(context, form)
    except ValidationError as exc:
        errors = FormErrors.from_validation(exc, labels=LABELS)
        raise reject(
            request,
            "find.html",
            errors=errors,
            values=values,
            title="Find a provider",
            results=None,
        ) from None
    except InputError as exc:
        raise reject(
            request,
            "find.html",
            errors=FormErrors.from_error(exc),
            values=values,
            title="Find a provider",
            results=None,
        ) from None
    return page(request, "find.html", title=f"{form.service} near you", values=values, results=hits)


def _search(context: AppContext, form: SearchForm) -> list[search.NearbyProvider]:
    def work(session: Session) -> list[search.NearbyProvider]:
        found = search.search_providers(
            session=session,
            service=form.service,
            latitude=form.lat,
            longitude=form.lon,
            radius_km=form.radius_km,
        )
        for hit in found:  # loaded now: the session closes when this returns
            session.expunge(hit.shop)
            session.expunge(hit.provider)
            session.expunge(hit.service)
        return found

    results, _ = context.reads.run(work)
    return results


@router.get("/book/{provider_id}/{service_id}")
def availability_page(
    request: Request,
    provider_id: uuid.UUID,
    service_id: uuid.UUID,
    person: MaybePerson,
    context: ContextDep,
    day: Text = None,
) -> Response:
    """A day's free start times, in the shop's time zone, with a day picker."""
    try:
        free = day_of_slots(
            context=context,
            provider_id=provider_id,
            service_id=service_id,
            day=day,
        )
    except InputError as exc:
        if exc.field != "day":
            raise
        free = day_of_slots(
            context=context,
            provider_id=provider_id,
            service_id=service_id,
            day=None,
        )
        raise _availability(
            request, free, errors=FormErrors.from_error(exc), values={"day": day or ""}
        ) from None
    page_: Response = _availability(request, free)
    return page_


def _availability(
    request: Request,
    free: DayOfSlots,
    *,
    errors: FormErrors | None = None,
    values: dict[str, str] | None = None,
    status: int = 422,
    errors_title: str | None = None,
) -> Any:
    """The availability page; a :class:`Rejected` to raise when ``errors`` are given."""
    nonce = secrets.token_urlsafe(12)  # with the slot: the booking's Idempotency-Key
    extra: dict[str, Any] = {
        "title": f"{free.service.name} with {free.provider.name}",
        "free": free,
        "nonce": nonce,
        "action": f"/book/{free.provider.id}/{free.service.id}",
        "reschedule": None,
        "errors_title": errors_title,
    }
    if errors:
        return reject(
            request, "availability.html", errors=errors, values=values or {}, status=status, **extra
        )
    return page(request, "availability.html", values=values or {}, **extra)


@router.post("/book/{provider_id}/{service_id}")
def book(
    request: Request,
    provider_id: uuid.UUID,
    service_id: uuid.UUID,
    form: CheckedForm,
    person: ClientPerson,
    context: ContextDep,
) -> Response:
    """Hold the chosen time (pending payment) and go on to pay."""
    values = {k: v for k, v in form.items() if isinstance(v, str)}
    raw_start, key = values.get("starts_at", ""), values.get("key", "")
    try:
        starts_at = _INSTANT.validate_python(raw_start)
        if not 1 <= len(key) <= 120 or not key.replace("-", "").replace("_", "").isalnum():
            raise InputError("the form is incomplete; reload the page and pick a time", field="")
        # Its own transaction, over before fresh times are read for a refusal.
        with transaction(context.sessions) as session:
            created = _create(
                request,
                context,
                session,
                provider_id=provider_id,
                service_id=service_id,
                starts_at=starts_at,
                key=key,
            )
    except (ValidationError, InputError) as exc:
        status = 409 if isinstance(exc, ConflictError) else 422
        free = _fresh_day(context, provider_id, service_id, values.get("day"))
        title = None
        if isinstance(exc, ValidationError):
            message = "That time is not valid; pick one of the times shown."
        elif isinstance(exc, ConflictError):
            title = "That time is no longer free"
            taken = _INSTANT.validate_python(raw_start)
            message = (
                f"Sorry, {local_time(taken, free.timezone)} was just taken by someone else. "
                "Here are the free times now."
            )
        else:
            message = exc.message
        raise _availability(
            request,
            free,
            errors=FormErrors({"": message}),
            values={"day": free.day.isoformat()},
            status=status,
            errors_title=title,
        ) from None
    return RedirectResponse(f"/bookings/{created.booking.id}/pay", status_code=303)


def _create(
    request: Request,
    context: AppContext,
    session: Session,
    *,
    provider_id: uuid.UUID,
    service_id: uuid.UUID,
    starts_at: Any,
    key: str,
) -> bookings.Created:
    """``create_booking`` as the API calls it: the token counted against the booking limit."""
    s = context.settings
    limit = ratelimit.Limit("booking", s.rate_limit_bookings, s.rate_limit_window_seconds)
    token = access_token_of(request)
    if token is None:
        raise AuthError("log in again")
    caller = accounts.present(cache=context.redis, settings=s, access_token=token, limit=limit)
    if caller.counted is None:  # Redis did not count it: PostgreSQL does
        counted = ratelimit.count_database(context.engine, limit, str(caller.claims.user_id))
        caller = dataclasses.replace(caller, counted=counted)
    return bookings.create_booking(
        session=session,
        settings=s,
        caller=caller,
        provider_id=provider_id,
        service_id=service_id,
        starts_at=starts_at,
        idempotency_key=f"web-{key}-{starts_at.isoformat()}"[:200],
    )


def _fresh_day(
    context: AppContext, provider_id: uuid.UUID, service_id: uuid.UUID, day: str | None
) -> DayOfSlots:
    """The day's times now, read apart from the failed attempt's transaction and snapshot."""
    with context.sessions() as session, session.begin():
        free = day_of_slots(
            context=context,
            provider_id=provider_id,
            service_id=service_id,
            day=None,
        )
    try:
        chosen = parse_day(day, today=free.today)
    except InputError:
        return free
    return load_day(
        context=context,
        shop=free.shop,
        provider=free.provider,
        service=free.service,
        day=chosen,
        today=free.today,
    )
