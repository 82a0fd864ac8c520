"""Bookings: availability, creation with a payment hold, reading, and state changes.

Creation is idempotent per client and ``Idempotency-Key``; the slot is guaranteed by the
``bookings_no_overlap`` exclusion constraint, the checks before it only give better
messages. Cancellation refunds through :mod:`chairside.payments.service`.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from chairside.accounts import service as accounts
from chairside.accounts.principal import Principal
from chairside.audit import service as audit
from chairside.booking import availability, availability_cache, creation, holds, transitions
from chairside.booking.access import is_staff, visible_booking, visible_bookings
from chairside.booking.availability_cache import AvailabilityCache
from chairside.booking.cancellation import cancellation_terms
from chairside.booking.models import STATUSES, Booking, IdempotencyKey
from chairside.config import Settings
from chairside.db import transaction
from chairside.errors import ChairsideError, ConflictError, InputError, NotFoundError
from chairside.logging import request_id_var
from chairside.payments import service as payments
from chairside.reminders import outbox
from chairside.reminders.channel import channel_configs, reachable_channels
from chairside.replica_reads import ReplicaReads
from chairside.shops import service as shops
from chairside.shops.models import Provider, Service, Shop


@dataclass(frozen=True)
class Created:
    """A booking and whether it was made now or replayed from an Idempotency-Key."""

    booking: Booking
    replayed: bool
    # The shop's time zone when it was at hand (a new booking), saving a look-up to render.
    timezone: str | None = None


def _bookable(
    *, session: Session, provider_id: uuid.UUID, service_id: uuid.UUID
) -> tuple[Shop, Provider, Service]:
    # One round trip for the common case; the precise error is worked out only on a miss.
    found = session.execute(
        creation.LOAD, {"provider_id": provider_id, "service_id": service_id}
    ).first()
    if found is not None:
        return found[0], found[1], found[2]
    raise _not_bookable(session=session, provider_id=provider_id, service_id=service_id)


@dataclass(frozen=True)
class FreeTimes:
    """A provider's free start times for a service, and until when they hold by themselves."""

    shop: Shop
    service: Service
    runs: list[availability.Run]  # UTC, in order
    stable_until: datetime | None  # see availability.stable_until


def _check_range(first_day: date, last_day: date) -> None:
    if last_day < first_day:
        raise InputError(f"to ({last_day}) is before from ({first_day})", field="to")
    if (last_day - first_day).days >= availability.MAX_RANGE_DAYS:
        raise InputError(
            f"at most {availability.MAX_RANGE_DAYS} days per query; asked for "
            f"{(last_day - first_day).days + 1}",
            field="to",
        )


def list_availability(
    *,
    session: Session,
    provider_id: uuid.UUID,
    service_id: uuid.UUID,
    first_day: date,
    last_day: date,
    now: datetime | None = None,
) -> FreeTimes:
    """Free start times (UTC, in runs) of a provider for a service, between local dates."""
    _check_range(first_day, last_day)
    now = now or datetime.now(UTC)
    shop, provider, service = _bookable(
        session=session, provider_id=provider_id, service_id=service_id
    )
    zone = ZoneInfo(shop.timezone)
    window = (
        availability.local_day_bounds(first_day, zone)[0],
        availability.local_day_bounds(last_day, zone)[1],
    )
    schedule = availability.load_schedule(
        session=session, shop=shop, provider=provider, window=window, now=now
    )
    runs = list(
        availability.free_runs(
            schedule=schedule, service=service, first_day=first_day, last_day=last_day, now=now
        )
    )
    return FreeTimes(
        shop=shop,
        service=service,
        runs=runs,
        stable_until=availability.stable_until(schedule=schedule, runs=runs, now=now),
    )


def availability_json(
    *,
    sessions: sessionmaker[Session],
    cache: AvailabilityCache,
    provider_id: uuid.UUID,
    service_id: uuid.UUID,
    first_day: date,
    last_day: date,
    reads: ReplicaReads | None = None,
) -> str:
    """The JSON body of a provider's availability: cached while valid, else computed
    (on a replica within the lag bound when ``reads`` has one)."""
    _check_range(first_day, last_day)
    query = availability_cache.query_key(service_id, first_day, last_day)
    # The version is read before the database snapshot is taken (availability_cache).
    found = cache.lookup(provider_id, query)
    if found.body is not None:
        return found.body

    def compute(session: Session) -> FreeTimes:
        return list_availability(
            session=session,
            provider_id=provider_id,
            service_id=service_id,
            first_day=first_day,
            last_day=last_day,
        )

    from_replica = False
    if reads is not None:
        free, from_replica = reads.run(compute)
    else:
        with transaction(sessions) as session:
            free = compute(session)
    body = availability.render_json(
        {
            "provider_id": str(provider_id),
            "service_id": str(service_id),
            "timezone": free.shop.timezone,
            "from": first_day.isoformat(),
            "to": last_day.isoformat(),
            "duration_minutes": free.service.duration_minutes,
        },
        runs=free.runs,
        zone=ZoneInfo(free.shop.timezone),
    )
    valid_until = free.stable_until
    if from_replica:
        # A replica may not have replayed a change whose version bump came before our
        # version read: keep its answer no longer than the lag the bound allows.
        assert reads is not None
        bound = datetime.now(UTC) + timedelta(seconds=max(reads.max_lag_seconds, 0.1))
        valid_until = bound if valid_until is None else min(valid_until, bound)
    cache.store(provider_id, query, version=found.version, body=body, valid_until=valid_until)
    return body


def _request_hash(data: dict[str, object]) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


def create_booking(
    *,
    session: Session,
    settings: Settings,
    caller: accounts.PresentedToken,
    provider_id: uuid.UUID,
    service_id: uuid.UUID,
    starts_at: datetime,
    note: str = "",
    idempotency_key: str | None = None,
) -> Created:
    """A ``pending_payment`` booking holding its slot for the configured hold time.

    ``caller`` is admitted (401, 429) from the first statement's row, before anything else
    is judged. Three statements in the common case (see :mod:`chairside.booking.creation`).
    """
    starts_at = starts_at.astimezone(UTC)
    params: dict[str, object] = {
        "provider_id": provider_id,
        "service_id": service_id,
        "lo": starts_at - availability.AROUND_START,
        "hi": starts_at + availability.AROUND_START,
        **accounts.caller_params(caller.claims),
    }
    claim = idempotency_key is not None
    if idempotency_key is not None:
        if not 1 <= len(idempotency_key) <= 200:
            raise InputError("Idempotency-Key must be 1 to 200 characters", field="Idempotency-Key")
        params |= {
            "idempotency_key": idempotency_key,
            "request_hash": _request_hash(
                {
                    "provider_id": provider_id,
                    "service_id": service_id,
                    "starts_at": starts_at.isoformat(),
                    "note": note,
                }
            ),
        }
    found = session.execute(creation.CLAIM_AND_LOAD[claim], params).first()
    # A replay of the caller's own key is not a new booking attempt: the rate limit does
    # not judge it (the router takes its count back).
    replay = idempotency_key is not None and found is not None and not found.claimed
    actor = accounts.admit(caller, found, limited=not replay)
    assert found is not None  # admitted: the caller's row is there
    if replay:
        assert idempotency_key is not None
        # An earlier request owns the key: answer as it did, even if the provider has
        # stopped offering the service since.
        return Created(
            booking=_replay(
                session=session,
                actor=actor,
                key=idempotency_key,
                request_hash=params["request_hash"],
            ),
            replayed=True,
        )
    if found.Shop is None:
        raise _not_bookable(session=session, provider_id=provider_id, service_id=service_id)
    shop, provider, service = found.Shop, found.Provider, found.Service
    now = datetime.now(UTC)
    interval = availability.buffered(service, starts_at)
    _check_slot(
        session=session,
        shop=shop,
        provider=provider,
        service=service,
        start=starts_at,
        now=now,
        check_busy=False,
        schedule=availability.schedule_of(found, shop=shop, provider=provider),
    )
    hold_expires_at = now + timedelta(minutes=settings.booking_hold_minutes)
    ends_at = starts_at + timedelta(minutes=service.duration_minutes)
    fields = {
        "status": "pending_payment",
        "starts_at": starts_at,
        "ends_at": ends_at,
        "hold_expires_at": hold_expires_at,
        "cancellation_fee_minor": None,
    }
    params = {
        "shop_id": shop.id,
        "provider_id": provider.id,
        "service_id": service.id,
        "client_id": actor.id,
        "starts_at": starts_at,
        "ends_at": ends_at,
        "buffered_starts_at": interval[0],
        "buffered_ends_at": interval[1],
        "price_minor": service.price_minor,
        "currency": shop.currency,
        "hold_expires_at": hold_expires_at,
        "note": note,
        "idempotency_key": idempotency_key,
        "actor_role": actor.role,
        "request_id": request_id_var.get(),
        "audit_after": audit.jsonable(
            {
                # What transitions.snapshot() would read from the row, known before it.
                **{name: fields[name] for name in transitions.AUDITED},
                "provider_id": provider.id,
                "service_id": service.id,
                "price_minor": service.price_minor,
            }
        ),
    }
    client = found.User
    params |= outbox.creation_params(
        shop=shop,
        email=client.email,
        client_timezone=client.timezone,
        channels=reachable_channels(
            channel_configs(settings), email=client.email, phone=client.phone
        ),
        starts_at=starts_at,
        now=now,
    )
    statement = creation.INSERT[claim]
    booking = session.scalars(statement, params).one_or_none()
    # Nothing inserted: a live booking overlaps, or a hold that ran out still sits there.
    # Release such holds (this provider, this interval) and try once more.
    if booking is None and holds.expire_overlapping(
        session=session, provider_id=provider.id, interval=interval
    ):
        booking = session.scalars(statement, params).one_or_none()
    if booking is None:
        raise transitions.slot_taken(session, provider.id, interval)
    availability_cache.note_changed(session, provider.id)
    return Created(booking=booking, replayed=False, timezone=shop.timezone)


def _not_bookable(
    *, session: Session, provider_id: uuid.UUID, service_id: uuid.UUID
) -> ChairsideError:
    """The precise error for a provider/service pair that cannot be booked."""
    shops.get_provider(session=session, provider_id=provider_id)
    shops.get_service(session=session, service_id=service_id)
    return InputError(
        f"provider {provider_id} does not offer service {service_id}", field="service_id"
    )


def _replay(*, session: Session, actor: Principal, key: str, request_hash: object) -> Booking:
    """The booking an earlier request made with this key, which this request could not claim.

    422 when that request had another body; 409 while it has not made its booking (it
    committed the key without one only if it failed, which rolls the key back too).
    """
    existing = session.get(IdempotencyKey, (actor.id, key))
    if existing is not None and existing.request_hash != request_hash:
        raise InputError(
            f"Idempotency-Key {key!r} was already used with a different request body; "
            "use a new key for a new booking",
            field="Idempotency-Key",
        )
    booking = (
        session.get(Booking, existing.booking_id) if existing and existing.booking_id else None
    )
    if booking is None:
        raise ConflictError(f"the request with Idempotency-Key {key!r} is still in progress")
    return booking


def _check_slot(
    *,
    session: Session,
    shop: Shop,
    provider: Provider,
    service: Service,
    start: datetime,
    now: datetime,
    ignore_booking: uuid.UUID | None = None,
    check_busy: bool = True,
    schedule: availability.Schedule | None = None,
) -> None:
    """Refuse a start time in the past, too soon, or outside working time (422); 409 if busy.

    Without ``check_busy`` the caller lets the exclusion constraint find a busy slot, and
    may hand in the ``schedule`` it loaded around the start; otherwise it is loaded here.
    """
    if start <= now:
        raise InputError(f"starts_at {start.isoformat()} is in the past", field="starts_at")
    earliest = now + timedelta(minutes=shop.min_notice_minutes)
    if start < earliest:
        raise InputError(
            f"starts_at {start.isoformat()} is too soon: this shop needs "
            f"{shop.min_notice_minutes} minutes' notice (earliest {earliest.isoformat()})",
            field="starts_at",
        )
    interval = availability.buffered(service, start)
    if schedule is None or check_busy:
        schedule = availability.load_schedule(
            session=session,
            shop=shop,
            provider=provider,
            window=interval,
            now=now,
            ignore_booking=ignore_booking,
            busy=check_busy,
        )
    if not availability.fits_working_time(schedule, service, start):
        local = start.astimezone(schedule.zone)
        raise InputError(
            f"starts_at {local.isoformat()} ({shop.timezone}) is outside the provider's "
            f"working hours, breaks or time off for a {service.duration_minutes}-minute service; "
            "see /api/v1/providers/{id}/availability for free times",
            field="starts_at",
        )
    if check_busy and availability.overlaps_busy(schedule, interval) is not None:
        raise transitions.slot_taken(session, provider.id, interval, exclude=ignore_booking)


def get_booking(*, session: Session, actor: Principal, booking_id: uuid.UUID) -> Booking:
    """One booking the caller may see."""
    return visible_booking(session=session, actor=actor, booking_id=booking_id)


def list_bookings(
    *,
    session: Session,
    actor: Principal,
    status: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> Sequence[Booking]:
    """The bookings the caller may see, soonest first."""
    query = visible_bookings(actor).order_by(Booking.starts_at).limit(limit).offset(offset)
    if status is not None:
        if status not in STATUSES:
            raise InputError(
                f"unknown status {status!r}; allowed: {', '.join(STATUSES)}", field="status"
            )
        query = query.where(Booking.status == status)
    return session.scalars(query).all()


def cancel_booking(
    *,
    session: Session,
    settings: Settings,
    actor: Principal,
    booking_id: uuid.UUID,
    reason: str = "",
) -> Booking:
    """Cancel; a paid booking is refunded, less the policy's fee when the client cancels late."""
    booking = visible_booking(session=session, actor=actor, booking_id=booking_id)
    terms = cancellation_terms(session=session, actor=actor, booking=booking)
    paid, fee = terms.paid_minor, terms.fee_minor
    cancelled = transitions.change_status(
        session=session,
        booking=booking,
        to="cancelled",
        actor=actor,
        action="booking.cancelled",
        values={"cancellation_fee_minor": fee, "hold_expires_at": None},
    )
    if paid - fee > 0:
        payments.refund_booking(
            session=session,
            settings=settings,
            actor=actor,
            booking_id=booking.id,
            amount_minor=paid - fee,
            reason=(
                "cancelled inside the free window"
                if fee == 0
                else f"late cancellation, fee {fee} kept"
            )
            + (f": {reason}" if reason else ""),
        )
    return cancelled


def reschedule_booking(
    *,
    session: Session,
    actor: Principal,
    booking_id: uuid.UUID,
    starts_at: datetime,
    settings: Settings | None = None,
) -> Booking:
    """Move a live booking to another start time of the same provider and service; its
    pending reminders move with it (through the channels of ``settings`` when given)."""
    booking = visible_booking(session=session, actor=actor, booking_id=booking_id)
    if booking.status not in ("pending_payment", "confirmed"):
        raise ConflictError(
            f"booking {booking.id} is {booking.status}; only pending_payment or confirmed "
            "bookings can be rescheduled",
            details={"current_status": booking.status},
        )
    shop, provider, service = _bookable(
        session=session, provider_id=booking.provider_id, service_id=booking.service_id
    )
    start = starts_at.astimezone(UTC)
    now = datetime.now(UTC)
    _check_slot(
        session=session,
        shop=shop,
        provider=provider,
        service=service,
        start=start,
        now=now,
        ignore_booking=booking.id,
    )
    interval = availability.buffered(service, start)
    holds.expire_overlapping(session=session, provider_id=provider.id, interval=interval)
    before = transitions.snapshot(booking)
    statement = (
        update(Booking)
        .where(
            Booking.id == booking.id,
            Booking.version == booking.version,
            Booking.status.in_(("pending_payment", "confirmed")),
        )
        .values(
            starts_at=start,
            ends_at=start + timedelta(minutes=service.duration_minutes),
            buffered_starts_at=interval[0],
            buffered_ends_at=interval[1],
            version=Booking.version + 1,
            updated_at=func.now(),
        )
        .returning(Booking)
        .execution_options(populate_existing=True, synchronize_session=False)
    )
    moved = Booking(
        id=booking.id,
        provider_id=booking.provider_id,
        buffered_starts_at=interval[0],
        buffered_ends_at=interval[1],
    )
    updated: Booking | None = transitions.run_guarded(
        session, moved, lambda: session.scalars(statement).one_or_none()
    )
    if updated is None:
        current = session.scalar(select(Booking.status).where(Booking.id == booking.id))
        raise ConflictError(
            f"booking {booking.id} changed meanwhile and is now {current}; reload it and retry",
            details={"current_status": current},
        )
    booking = updated
    availability_cache.note_changed(session, booking.provider_id)
    outbox.move_pending(
        session,
        booking=booking,
        shop=shop,
        now=now,
        configs=None if settings is None else channel_configs(settings),
    )
    audit.record(
        session=session,
        actor=actor,
        action="booking.rescheduled",
        entity="booking",
        entity_id=booking.id,
        before=before,
        after=transitions.snapshot(booking),
    )
    return booking


def finish_booking(
    *, session: Session, actor: Principal, booking_id: uuid.UUID, outcome: str
) -> Booking:
    """Mark a started booking ``completed`` or ``no_show`` (shop staff only)."""
    booking = visible_booking(session=session, actor=actor, booking_id=booking_id)
    if not is_staff(session=session, actor=actor, booking=booking):
        # Clients may see their booking but not close it; to them it is not a thing to change.
        raise NotFoundError(f"no booking {booking_id} in your shops")
    if outcome not in transitions.FINISHED:
        raise InputError(
            f"unknown outcome {outcome!r}; allowed: {', '.join(transitions.FINISHED)}",
            field="outcome",
        )
    transitions.ensure_allowed(booking, outcome)
    if not transitions.has_started(booking, now=datetime.now(UTC)):
        raise ConflictError(
            f"booking {booking.id} starts at {booking.starts_at.isoformat()}; it can be marked "
            f"{outcome} only once it has started",
            details={"current_status": booking.status},
        )
    return transitions.change_status(
        session=session, booking=booking, to=outcome, actor=actor, action=f"booking.{outcome}"
    )


def booking_timezone(*, session: Session, booking: Booking) -> str:
    """The time zone a booking's times are shown in (its shop's)."""
    return shops.get_shop(session=session, shop_id=booking.shop_id).timezone
