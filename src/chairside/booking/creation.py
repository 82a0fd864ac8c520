"""The statements of ``POST /api/v1/bookings``, the busiest write of the service.

Creating a booking costs two statements in the common case, each built once at import:

1. :data:`CLAIM_AND_LOAD`: load the caller's account and the token's revocation (the
   columns :func:`chairside.accounts.service.admit` judges), claim the
   ``Idempotency-Key`` (a data-modifying CTE), and load the shop, provider and service,
   checking that the provider offers the service, with the provider's hours, breaks and
   time off around the start (:func:`chairside.booking.availability.schedule_laterals`)
   for a precise 422 outside working time. The caller's row comes back even when the
   rest does not, so a 401 is told apart from a 404; a transaction whose caller turns
   out to be refused rolls its claim back;
2. :data:`INSERT`: the booking, the key's booking id, the audit row and the booking's
   reminders (:data:`chairside.reminders.outbox.CREATION_CTE`) in one statement, so they
   exist exactly together. ``ON CONFLICT DO NOTHING`` lets the
   ``bookings_no_overlap`` exclusion constraint decide (waiting for a concurrent insert
   to commit or roll back) without aborting the transaction; nothing inserted means the
   slot is taken.

The ``ON CONFLICT`` parts are SQL text: SQLAlchemy never caches the compiled form of its
PostgreSQL ``insert()`` construct, and compiling it on every request cost more CPU than
PostgreSQL spent running the whole transaction. Text is compiled once; the rest are
ordinary cached constructs. ``bench/booking/booking_transaction.sql`` is the same
transaction for pgbench: keep the two in step.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    Integer,
    Select,
    String,
    Uuid,
    and_,
    bindparam,
    column,
    exists,
    join,
    outerjoin,
    select,
    text,
    true,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import load_only
from sqlalchemy.sql.selectable import TextualSelect

from chairside.accounts import service as accounts
from chairside.accounts.models import User
from chairside.booking import availability
from chairside.booking.models import Booking
from chairside.reminders import outbox
from chairside.shops.models import Provider, Service, Shop, provider_services

# ON CONFLICT waits for a concurrent request with the same key to finish, then skips:
# "claimed" is false exactly when an earlier request owns the key. The caller is not yet
# judged when this runs, so its account may be gone: claim nothing then (the key's
# foreign key would fail the statement instead of letting the 401 be told).
_CLAIM = (
    text(
        "INSERT INTO idempotency_keys (user_id, key, request_hash) "
        "SELECT :user_id, :idempotency_key, :request_hash "
        "WHERE EXISTS (SELECT FROM users WHERE id = :user_id) "
        "ON CONFLICT DO NOTHING RETURNING key"
    )
    .bindparams(
        bindparam("user_id", type_=Uuid),
        bindparam("idempotency_key", type_=String),
        bindparam("request_hash", type_=String),
    )
    .columns(column("key", String))
    .cte("claimed")
)


# Shops with their providers and services; _BOOKABLE picks the one pair asked for.
_OFFERINGS = join(Shop, Provider, Provider.shop_id == Shop.id).join(
    Service, Service.shop_id == Shop.id
)
_BOOKABLE = and_(
    Provider.id == bindparam("provider_id", type_=Uuid),
    Service.id == bindparam("service_id", type_=Uuid),
    Provider.active,
    Service.active,
    exists().where(
        provider_services.c.provider_id == Provider.id,
        provider_services.c.service_id == Service.id,
    ),
)


# The columns creation reads, and no more: every column costs a description entry and a
# conversion on each booking. Reading any other attribute of these objects raises (rather
# than quietly costing a query): add it here when creation needs it.
_CREATION_NEEDS = (
    load_only(
        User.id,
        User.email,
        User.role,
        User.tokens_valid_after,
        User.timezone,
        User.phone,
        raiseload=True,
    ),
    load_only(
        Shop.id,
        Shop.timezone,
        Shop.currency,
        Shop.min_notice_minutes,
        Shop.reminder_lead_minutes,
        Shop.reminder_quiet_start,
        Shop.reminder_quiet_end,
        raiseload=True,
    ),
    load_only(Provider.id, raiseload=True),
    load_only(
        Service.id,
        Service.duration_minutes,
        Service.price_minor,
        Service.buffer_before_minutes,
        Service.buffer_after_minutes,
        raiseload=True,
    ),
)


def _claim_and_load(*, claim: bool) -> Select[Any]:
    """The caller's columns, the bookable shop, provider, service and schedule, the claim.

    A left join: the caller's row comes back when the rest is not bookable.
    """
    hours, breaks, time_off = availability.schedule_laterals()
    query = (
        select(
            *accounts.CALLER_COLUMNS,
            Shop,
            Provider,
            Service,
            *hours.c,
            *breaks.c,
            *time_off.c,
        )
        .select_from(
            outerjoin(User, _OFFERINGS, _BOOKABLE)
            .outerjoin(hours, true())
            .outerjoin(breaks, true())
            .outerjoin(time_off, true())
        )
        .where(User.id == bindparam("user_id", type_=Uuid))
        .options(*_CREATION_NEEDS)
    )
    if not claim:
        return query
    return query.add_columns(exists(select(_CLAIM.c.key)).label("claimed")).add_cte(_CLAIM)


# The NOT EXISTS repeats the constraint's rule for a copy that lost the constraint (a bad
# restore or hand fix, which `chairside bookings check` reports): without a race it still
# refuses an overlap there. Under concurrency the constraint is what holds.
_INSERT_SQL = """
WITH created AS (
    INSERT INTO bookings (shop_id, provider_id, service_id, client_id, status, starts_at,
        ends_at, buffered_starts_at, buffered_ends_at, price_minor, currency,
        hold_expires_at, note, version)
    SELECT :shop_id, :provider_id, :service_id, :client_id, 'pending_payment', :starts_at,
        :ends_at, :buffered_starts_at, :buffered_ends_at, :price_minor, :currency,
        :hold_expires_at, :note, 1
    WHERE NOT EXISTS (
        SELECT FROM bookings
        WHERE provider_id = :provider_id AND status IN ('pending_payment', 'confirmed')
          AND buffered_starts_at < :buffered_ends_at AND buffered_ends_at > :buffered_starts_at)
    ON CONFLICT DO NOTHING
    RETURNING *
), audited AS (
    INSERT INTO audit_log (actor_id, actor_role, action, entity, entity_id, after, request_id)
    SELECT :client_id, :actor_role, 'booking.created', 'booking', id::text, :audit_after,
        :request_id
    FROM created
){reminded}{keyed}
SELECT * FROM created
"""
_KEYED = """, keyed AS (
    UPDATE idempotency_keys SET booking_id = created.id
    FROM created
    WHERE user_id = :client_id AND key = :idempotency_key
)"""


def _insert(*, keyed: bool) -> Select[Any]:
    timestamp = Booking.__table__.c.starts_at.type
    statement: TextualSelect = (
        text(_INSERT_SQL.format(reminded=outbox.CREATION_CTE, keyed=_KEYED if keyed else ""))
        .bindparams(
            *(bindparam(name, type_=Uuid) for name in ("shop_id", "provider_id", "service_id")),
            bindparam("client_id", type_=Uuid),
            *(
                bindparam(name, type_=timestamp)
                for name in (
                    "starts_at",
                    "ends_at",
                    "buffered_starts_at",
                    "buffered_ends_at",
                    "hold_expires_at",
                )
            ),
            bindparam("audit_after", type_=JSONB),
            bindparam("reminder_channels", type_=ARRAY(String)),
            bindparam("reminder_leads", type_=ARRAY(Integer)),
            bindparam("reminder_dues", type_=ARRAY(timestamp)),
        )
        .columns(*Booking.__table__.c)
    )
    return select(Booking).from_statement(statement)  # type: ignore[return-value]


CLAIM_AND_LOAD = {claim: _claim_and_load(claim=claim) for claim in (True, False)}
# Shop, provider and service alone, for availability and rescheduling.
LOAD = select(Shop, Provider, Service).select_from(_OFFERINGS).where(_BOOKABLE)
INSERT = {keyed: _insert(keyed=keyed) for keyed in (True, False)}
