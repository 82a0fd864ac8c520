"""HTTP routes of bookings, availability, search and reviews."""

from __future__ import annotations

import dataclasses
import uuid
from typing import Annotated
from zoneinfo import ZoneInfo

from anyio import to_thread
from fastapi import APIRouter, Header, Query, Response, status
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from chairside.accounts import ratelimit
from chairside.accounts import service as accounts
from chairside.accounts.deps import BearerToken, CurrentUser
from chairside.api.deps import ContextDep, SessionDep
from chairside.api.problems import documented
from chairside.booking import calendar, reviews, schemas, search, service
from chairside.booking.models import Booking
from chairside.bounds import CleanStr, Latitude, LocalDate, Longitude, Offset, RadiusKm
from chairside.db import transaction
from chairside.payments import service as payments

router = APIRouter(prefix="/api/v1", tags=["bookings"])


def render(
    session: SessionDep, booking: Booking, *, fresh: bool = False, timezone: str | None = None
) -> schemas.BookingOut:
    """A booking with its times in its shop's time zone, and its payments."""
    zone_name = timezone or service.booking_timezone(session=session, booking=booking)
    # A booking made in this request has no payments yet: skip the query.
    paid = [] if fresh else payments.payments_of(session=session, booking_id=booking.id)
    zone = ZoneInfo(zone_name)
    return schemas.BookingOut(
        id=booking.id,
        shop_id=booking.shop_id,
        provider_id=booking.provider_id,
        service_id=booking.service_id,
        client_id=booking.client_id,
        status=booking.status,
        starts_at=booking.starts_at.astimezone(zone),
        ends_at=booking.ends_at.astimezone(zone),
        timezone=zone_name,
        price_minor=booking.price_minor,
        currency=booking.currency,
        hold_expires_at=booking.hold_expires_at,
        cancellation_fee_minor=booking.cancellation_fee_minor,
        note=booking.note,
        version=booking.version,
        created_at=booking.created_at,
        payments=[schemas.PaymentSummary.model_validate(p) for p in paid],
    )


@router.get("/providers/{provider_id}/availability", response_model=schemas.AvailabilityOut)
async def availability(
    provider_id: uuid.UUID,
    context: ContextDep,
    service_id: uuid.UUID,
    from_date: Annotated[LocalDate, Query(alias="from", description="First local date")],
    to_date: Annotated[LocalDate, Query(alias="to", description="Last local date (inclusive)")],
) -> object:
    """Free start times between two local dates, in the shop's time zone (ISO 8601).

    Each slot is a start time; the appointment lasts ``duration_minutes`` from it. Answers
    are cached in Redis for at most ``CHAIRSIDE_AVAILABILITY_CACHE_SECONDS``; every booking
    or schedule change of the provider drops them at once.
    """

    def work() -> Response:
        body = service.availability_json(
            sessions=context.sessions,
            cache=context.availability_cache,
            provider_id=provider_id,
            service_id=service_id,
            first_day=from_date,
            last_day=to_date,
            reads=context.reads,
        )
        return Response(body, media_type="application/json")

    return await run_in_threadpool(work)


@router.post(
    "/bookings",
    status_code=status.HTTP_201_CREATED,
    response_model=schemas.BookingOut,
    responses={
        200: {"model": schemas.BookingOut, "description": "Idempotent replay"},
        **documented(404, 409, 429),
    },
)
async def create_booking(
    body: schemas.BookingIn,
    token: BearerToken,
    context: ContextDep,
    response: Response,
    idempotency_key: Annotated[
        CleanStr | None, Header(alias="Idempotency-Key", min_length=1, max_length=200)
    ] = None,
) -> object:
    """Hold a slot as a pending_payment booking; pay within the hold time to confirm it."""
    s = context.settings
    limit = ratelimit.Limit("booking", s.rate_limit_bookings, s.rate_limit_window_seconds)

    def work() -> schemas.BookingOut:
        # The token's checks in Redis first; PostgreSQL's in the booking's first statement.
        caller = accounts.present(cache=context.redis, settings=s, access_token=token, limit=limit)
        who = str(caller.claims.user_id)
        # Redis did not count it: PostgreSQL does (judged in create_booking, like Redis's
        # count, once it is known whether this is a replay), before the booking's
        # transaction takes a connection.
        counted_in = None if caller.counted is not None else context.engine
        if counted_in is not None:
            counted = ratelimit.count_database(counted_in, limit, who)
            caller = dataclasses.replace(caller, counted=counted)
        with transaction(context.sessions) as session:
            created = service.create_booking(
                session=session,
                settings=s,
                caller=caller,
                provider_id=body.provider_id,
                service_id=body.service_id,
                starts_at=body.starts_at,
                note=body.note,
                idempotency_key=idempotency_key,
            )
            if created.replayed:
                response.status_code = status.HTTP_200_OK
                response.headers["Idempotent-Replayed"] = "true"
            rendered = render(
                session, created.booking, fresh=not created.replayed, timezone=created.timezone
            )
        if created.replayed:  # not an attempt: take its count back where it was taken
            ratelimit.uncount(context.redis, limit, who, database=counted_in)
        return rendered  # committed: the client is never told of a booking that is not

    # The busiest write: one trip to a thread for the whole request (session,
    # authentication, the booking, the commit) instead of one per dependency, on threads
    # of its own (settings.booking_threads).
    return await to_thread.run_sync(work, limiter=context.booking_threads)


@router.get("/bookings", response_model=list[schemas.BookingOut])
def list_bookings(
    user: CurrentUser,
    session: SessionDep,
    status_filter: Annotated[CleanStr | None, Query(alias="status", max_length=40)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[Offset, Query()] = 0,
) -> object:
    """Bookings the caller may see: a client's own, a shop's for its owner and staff."""
    found = service.list_bookings(
        session=session, actor=user, status=status_filter, limit=limit, offset=offset
    )
    return [render(session, b) for b in found]


@router.get("/bookings/{booking_id}", response_model=schemas.BookingOut)
def get_booking(booking_id: uuid.UUID, user: CurrentUser, session: SessionDep) -> object:
    """One booking."""
    return render(session, service.get_booking(session=session, actor=user, booking_id=booking_id))


@router.post("/bookings/{booking_id}/cancel", response_model=schemas.BookingOut)
def cancel_booking(
    booking_id: uuid.UUID,
    user: CurrentUser,
    session: SessionDep,
    context: ContextDep,
    body: schemas.CancelIn | None = None,
) -> object:
    """Cancel: refunded inside the free window, the policy's fee kept when late."""
    booking = service.cancel_booking(
        session=session,
        settings=context.settings,
        actor=user,
        booking_id=booking_id,
        reason=body.reason if body else "",
    )
    return render(session, booking)


@router.post("/bookings/{booking_id}/reschedule", response_model=schemas.BookingOut)
def reschedule_booking(
    booking_id: uuid.UUID,
    body: schemas.RescheduleIn,
    user: CurrentUser,
    session: SessionDep,
    context: ContextDep,
) -> object:
    """Move a booking to another free start time."""
    booking = service.reschedule_booking(
        session=session,
        actor=user,
        booking_id=booking_id,
        starts_at=body.starts_at,
        settings=context.settings,
    )
    return render(session, booking)


@router.post("/bookings/{booking_id}/complete", response_model=schemas.BookingOut)
def complete_booking(booking_id: uuid.UUID, user: CurrentUser, session: SessionDep) -> object:
    """Mark a started booking completed (shop staff)."""
    booking = service.finish_booking(
        session=session, actor=user, booking_id=booking_id, outcome="completed"
    )
    return render(session, booking)


@router.post("/bookings/{booking_id}/no-show", response_model=schemas.BookingOut)
def no_show(booking_id: uuid.UUID, user: CurrentUser, session: SessionDep) -> object:
    """Mark a started booking as a no-show (shop staff)."""
    booking = service.finish_booking(
        session=session, actor=user, booking_id=booking_id, outcome="no_show"
    )
    return render(session, booking)


CalendarDay = Annotated[LocalDate, Query(alias="date", description="A shop-local date")]
CalendarSpan = Annotated[
    calendar.Span, Query(description="day, or week: the ISO week (Monday to Sunday) of date")
]


@router.get("/shops/{shop_id}/calendar", response_model=schemas.CalendarOut)
def shop_calendar(
    shop_id: uuid.UUID,
    day: CalendarDay,
    user: CurrentUser,
    session: SessionDep,
    span: CalendarSpan = "day",
) -> object:
    """The shop's bookings on a local day or in its ISO week (the shop's owner)."""
    found = calendar.shop_calendar(session=session, actor=user, shop_id=shop_id, day=day, span=span)
    return schemas.CalendarOut(
        shop_id=found.shop_id,
        shop_name=found.shop_name,
        timezone=found.timezone,
        span=found.span,
        first_day=found.first_day,
        last_day=found.last_day,
        entries=[schemas.CalendarEntryOut(**dataclasses.asdict(e)) for e in found.entries],
    )


@router.get(
    "/shops/{shop_id}/calendar.csv",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}, "description": "The calendar as CSV"}},
)
def shop_calendar_csv(
    shop_id: uuid.UUID,
    day: CalendarDay,
    user: CurrentUser,
    session: SessionDep,
    span: CalendarSpan = "day",
) -> Response:
    """The same rows as the calendar, as CSV (the shop's owner)."""
    found = calendar.shop_calendar(session=session, actor=user, shop_id=shop_id, day=day, span=span)
    return Response(
        calendar.calendar_csv(found),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{calendar.csv_filename(found)}"'},
    )


@router.post(
    "/bookings/{booking_id}/review",
    status_code=status.HTTP_201_CREATED,
    response_model=schemas.ReviewOut,
)
def review_booking(
    booking_id: uuid.UUID, body: schemas.ReviewIn, user: CurrentUser, session: SessionDep
) -> object:
    """Review a completed booking (its client, once)."""
    return reviews.add_review(
        session=session, actor=user, booking_id=booking_id, rating=body.rating, text=body.text
    )


@router.get("/providers/{provider_id}/reviews", response_model=list[schemas.ReviewOut])
def provider_reviews(provider_id: uuid.UUID, session: SessionDep) -> object:
    """A provider's reviews, newest first."""
    return reviews.list_reviews(session=session, provider_id=provider_id)


@router.get("/search/providers", response_model=list[schemas.SearchResultOut])
def search_providers(
    context: ContextDep,
    service_query: Annotated[CleanStr, Query(alias="service", min_length=1, max_length=200)],
    lat: Annotated[Latitude, Query()],
    lon: Annotated[Longitude, Query()],
    radius_km: Annotated[RadiusKm, Query()] = 10.0,
    limit: Annotated[int, Query(ge=1, le=50)] = 20,
) -> object:
    """Providers offering a service near a point, nearest first, with their next free slot.

    A read that may lag: served by a replica within the lag bound when one is configured.
    """

    def work(session: Session) -> list[schemas.SearchResultOut]:
        hits = search.search_providers(
            session=session,
            service=service_query,
            latitude=lat,
            longitude=lon,
            radius_km=radius_km,
            limit=limit,
        )
        return [_search_result(h) for h in hits]

    results, _ = context.reads.run(work)
    return results


def _search_result(h: search.NearbyProvider) -> schemas.SearchResultOut:
    return schemas.SearchResultOut(
        provider_id=h.provider.id,
        provider_name=h.provider.name,
        shop_id=h.shop.id,
        shop_name=h.shop.name,
        service_id=h.service.id,
        service_name=h.service.name,
        price_minor=h.service.price_minor,
        currency=h.shop.currency,
        distance_km=h.distance_km,
        timezone=h.shop.timezone,
        next_free_slot=(
            h.next_free_slot.astimezone(ZoneInfo(h.shop.timezone)) if h.next_free_slot else None
        ),
    )
