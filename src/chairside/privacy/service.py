"""Data rights of a client: everything held about them (export) and its removal (anonymise).

**Export** gathers what the platform holds about one account: the account itself (never
its password hash or token cutoffs), its bookings with their shop, provider, service,
payments and refunds, its reviews, its sessions (refresh-token families, without token
ids) and the audit entries about it or made by it.

**Anonymise** removes the account's personal data and keeps what others rely on:

- the ``users`` row stays (bookings, reviews and audit rows point at its id) but its
  e-mail becomes ``anonymised-<id>@invalid``, its name ``Anonymised``, its password hash
  a value no password matches; every token issued so far is refused
  (``tokens_valid_after``), its refresh tokens and idempotency keys are deleted. The old
  address is free to register again, as a new account.
- bookings stay with their shop, provider, service, times, status, price and fees (the
  shop's books); their free-text note is emptied. Payments keep amounts, statuses and
  processor references; the card's last four digits go. A refund's reason keeps the
  system's words ("late cancellation, fee 1000 kept") and loses what the client wrote.
- reviews keep their rating (the provider's average); their text is emptied.
- a provider account's link to its staff entry is cut (the shop's staff list is the
  shop's to rename or retire).
- the audit log keeps every row. Values naming the client (:data:`PERSONAL_KEYS`) in the
  rows about them are replaced by ``"[redacted]"``, the one UPDATE migration 0008 lets
  through its append-only trigger; ids, times, actions and amounts stay.
- one ``account.anonymised`` audit row records who did it (the client, an operator, the
  retention job) and the counts, never the removed values.

It is idempotent: an account already anonymised is reported as such and left alone.
Refused (:class:`GuardRefusedError`, nothing changed) for admins, for owners who still own
shops, and while the client has upcoming live bookings (cancel them first, under the
shop's policy).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import redis
from sqlalchemy import Engine, and_, delete, func, or_, select, text, update
from sqlalchemy.orm import Session

from chairside.accounts import login_throttle, passwords, revocation
from chairside.accounts.models import RefreshToken, User
from chairside.accounts.principal import Principal
from chairside.audit import service as audit
from chairside.audit.models import AuditEntry
from chairside.booking.models import Booking, IdempotencyKey, Review
from chairside.config import Settings
from chairside.errors import GuardRefusedError, NotFoundError, PermissionDeniedError
from chairside.payments.models import Payment, Refund
from chairside.reminders import outbox as reminders_outbox
from chairside.shops.models import Provider, Service, Shop

EXPORT_FORMAT = "chairside.client-data/1"
REDACTED = "[redacted]"
ANONYMISED_NAME = "Anonymised"
# No argon2 hash looks like this, so no password verifies against it.
UNUSABLE_PASSWORD = "!anonymised"
# Keys of audit before/after values that can name or describe the client.
PERSONAL_KEYS = frozenset(
    {"email", "full_name", "note", "text", "card_last4", "reason", "phone", "timezone"}
)


def find_account(
    *, session: Session, email: str | None = None, user_id: uuid.UUID | None = None
) -> User:
    """The account with this e-mail (case-insensitive) or id; NotFoundError naming it."""
    if user_id is not None:
        user = session.get(User, user_id)
        if user is None:
            raise NotFoundError(f"no account with id {user_id}", field="--user-id")
        return user
    if email is None:
        raise NotFoundError("say which account: an e-mail or an id", field="--email")
    user = session.scalar(select(User).where(func.lower(User.email) == email.strip().lower()))
    if user is None:
        raise NotFoundError(
            f"no account with e-mail {email!r} (an anonymised account keeps no e-mail; use its id)",
            field="--email",
        )
    return user


# --- export -----------------------------------------------------------------------------


def export_client(*, session: Session, user_id: uuid.UUID) -> dict[str, Any]:
    """Everything held about the account, as JSON-ready data (no secrets)."""
    user = find_account(session=session, user_id=user_id)
    bookings = _bookings_of(session, user.id)
    booking_ids = [row.Booking.id for row in bookings]
    payments = _payments_of(session, booking_ids)
    refunds = _refunds_of(session, [p.id for p in payments])
    reviews = session.scalars(
        select(Review).where(Review.client_id == user.id).order_by(Review.created_at)
    ).all()
    entries = _audit_rows_about(
        session,
        user_id=user.id,
        booking_ids=booking_ids,
        payment_ids=[p.id for p in payments],
        review_ids=[r.id for r in reviews],
    )
    return {
        "format": EXPORT_FORMAT,
        "exported_at": _iso(datetime.now(UTC)),
        "account": {
            "id": str(user.id),
            "email": user.email,
            "full_name": user.full_name,
            "role": user.role,
            "timezone": user.timezone,
            "phone": user.phone,
            "created_at": _iso(user.created_at),
            "last_seen_at": _iso(user.last_seen_at),
            "anonymised_at": _iso(user.anonymised_at),
        },
        "bookings": [_booking_data(row, payments, refunds) for row in bookings],
        "reviews": [
            {
                "id": str(r.id),
                "booking_id": str(r.booking_id),
                "provider_id": str(r.provider_id),
                "rating": r.rating,
                "text": r.text,
                "created_at": _iso(r.created_at),
            }
            for r in reviews
        ],
        "sessions": _sessions_of(session, user.id),
        "audit": [
            {
                "id": e.id,
                "at": _iso(e.at),
                "by": "you" if e.actor_id == user.id else (e.actor_role or "system"),
                "action": e.action,
                "entity": e.entity,
                "entity_id": e.entity_id,
                "before": e.before,
                "after": e.after,
            }
            for e in entries
        ],
    }


def _bookings_of(session: Session, user_id: uuid.UUID) -> Sequence[Any]:
    return session.execute(
        select(
            Booking,
            Shop.name.label("shop_name"),
            Shop.address.label("shop_address"),
            Shop.timezone.label("timezone"),
            Provider.name.label("provider_name"),
            Service.name.label("service_name"),
        )
        .join(Shop, Shop.id == Booking.shop_id)
        .join(Provider, Provider.id == Booking.provider_id)
        .join(Service, Service.id == Booking.service_id)
        .where(Booking.client_id == user_id)
        .order_by(Booking.starts_at)
    ).all()


def _payments_of(session: Session, booking_ids: Sequence[uuid.UUID]) -> Sequence[Payment]:
    if not booking_ids:
        return []
    return session.scalars(
        select(Payment).where(Payment.booking_id.in_(booking_ids)).order_by(Payment.created_at)
    ).all()


def _refunds_of(session: Session, payment_ids: Sequence[uuid.UUID]) -> Sequence[Refund]:
    if not payment_ids:
        return []
    return session.scalars(
        select(Refund).where(Refund.payment_id.in_(payment_ids)).order_by(Refund.created_at)
    ).all()


def _booking_data(
    row: Any, payments: Sequence[Payment], refunds: Sequence[Refund]
) -> dict[str, Any]:
    booking: Booking = row.Booking
    return {
        "id": str(booking.id),
        "shop": {"id": str(booking.shop_id), "name": row.shop_name, "address": row.shop_address},
        "timezone": row.timezone,
        "provider": {"id": str(booking.provider_id), "name": row.provider_name},
        "service": {"id": str(booking.service_id), "name": row.service_name},
        "status": booking.status,
        "starts_at": _iso(booking.starts_at),
        "ends_at": _iso(booking.ends_at),
        "price_minor": booking.price_minor,
        "currency": booking.currency,
        "cancellation_fee_minor": booking.cancellation_fee_minor,
        "note": booking.note,
        "created_at": _iso(booking.created_at),
        "updated_at": _iso(booking.updated_at),
        "payments": [
            {
                "id": str(p.id),
                "provider": p.provider,
                "status": p.status,
                "amount_minor": p.amount_minor,
                "refunded_minor": p.refunded_minor,
                "currency": p.currency,
                "card_last4": p.card_last4,
                "failure_reason": p.failure_reason,
                "created_at": _iso(p.created_at),
                "refunds": [
                    {
                        "id": str(r.id),
                        "amount_minor": r.amount_minor,
                        "reason": r.reason,
                        "created_at": _iso(r.created_at),
                    }
                    for r in refunds
                    if r.payment_id == p.id
                ],
            }
            for p in payments
            if p.booking_id == booking.id
        ],
    }


def _sessions_of(session: Session, user_id: uuid.UUID) -> list[dict[str, Any]]:
    """Each login's family of refresh tokens: when it began, was last used, ends."""
    rows = session.execute(
        select(
            func.min(RefreshToken.issued_at).label("started_at"),
            func.max(RefreshToken.issued_at).label("last_refreshed_at"),
            func.max(RefreshToken.expires_at).label("expires_at"),
            func.bool_or(RefreshToken.revoked_at.is_not(None)).label("ended"),
        )
        .where(RefreshToken.user_id == user_id)
        .group_by(RefreshToken.family_id)
        .order_by(func.min(RefreshToken.issued_at))
    ).all()
    return [
        {
            "started_at": _iso(r.started_at),
            "last_refreshed_at": _iso(r.last_refreshed_at),
            "expires_at": _iso(r.expires_at),
            "ended": bool(r.ended),
        }
        for r in rows
    ]


def _audit_rows_about(
    session: Session,
    *,
    user_id: uuid.UUID,
    booking_ids: Sequence[uuid.UUID],
    payment_ids: Sequence[uuid.UUID],
    review_ids: Sequence[uuid.UUID],
) -> Sequence[AuditEntry]:
    """Audit rows made by the account or about it, its bookings, payments and reviews."""
    about = [
        AuditEntry.actor_id == user_id,
        and_(AuditEntry.entity == "user", AuditEntry.entity_id == str(user_id)),
    ]
    for entity, ids in (("booking", booking_ids), ("payment", payment_ids), ("review", review_ids)):
        if ids:
            about.append(
                and_(AuditEntry.entity == entity, AuditEntry.entity_id.in_([str(i) for i in ids]))
            )
    return session.scalars(select(AuditEntry).where(or_(*about)).order_by(AuditEntry.id)).all()


# --- anonymise --------------------------------------------------------------------------


@dataclass(frozen=True)
class AnonymisationReport:
    """What anonymising one account changed (or, with ``dry_run``, would change)."""

    user_id: uuid.UUID
    role: str
    already_anonymised: bool
    dry_run: bool
    anonymised_at: datetime | None
    bookings: int
    payments: int
    reviews: int
    audit_rows_redacted: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "user_id": str(self.user_id),
            "role": self.role,
            "already_anonymised": self.already_anonymised,
            "dry_run": self.dry_run,
            "anonymised_at": _iso(self.anonymised_at),
            "bookings": self.bookings,
            "payments": self.payments,
            "reviews": self.reviews,
            "audit_rows_redacted": self.audit_rows_redacted,
        }


def anonymise_client(
    *,
    session: Session,
    user_id: uuid.UUID,
    actor: Principal | None,
    by: str,
    dry_run: bool = False,
) -> AnonymisationReport:
    """Remove the account's personal data, keeping bookings for the shop and the audit trail.

    ``by`` says who asked ("self", "operator alice@host", "retention"); it goes into the
    audit row. Runs in ``session``'s transaction: the caller commits.
    """
    user = session.scalar(select(User).where(User.id == user_id).with_for_update())
    if user is None:
        raise NotFoundError(f"no account with id {user_id}", field="user_id")
    if user.anonymised_at is not None:
        return AnonymisationReport(
            user_id=user.id,
            role=user.role,
            already_anonymised=True,
            dry_run=dry_run,
            anonymised_at=user.anonymised_at,
            bookings=0,
            payments=0,
            reviews=0,
            audit_rows_redacted=0,
        )
    _refuse_if_needed(session, user)
    booking_ids = list(session.scalars(select(Booking.id).where(Booking.client_id == user.id)))
    payment_ids = list(
        session.scalars(select(Payment.id).where(Payment.booking_id.in_(booking_ids)))
        if booking_ids
        else []
    )
    review_ids = list(session.scalars(select(Review.id).where(Review.client_id == user.id)))
    entries = _audit_rows_about(
        session,
        user_id=user.id,
        booking_ids=booking_ids,
        payment_ids=payment_ids,
        review_ids=review_ids,
    )
    redactions = [(e, _redacted(e.before), _redacted(e.after)) for e in entries]
    redactions = [r for r in redactions if r[1] != r[0].before or r[2] != r[0].after]
    if dry_run:
        return AnonymisationReport(
            user_id=user.id,
            role=user.role,
            already_anonymised=False,
            dry_run=True,
            anonymised_at=None,
            bookings=len(booking_ids),
            payments=len(payment_ids),
            reviews=len(review_ids),
            audit_rows_redacted=len(redactions),
        )
    _redact_audit_rows(session, redactions)
    if booking_ids:
        session.execute(update(Booking).where(Booking.id.in_(booking_ids)).values(note=""))
        # No reminder goes to an address that is gone.
        reminders_outbox.cancel_pending(session, *booking_ids)
    if payment_ids:
        session.execute(update(Payment).where(Payment.id.in_(payment_ids)).values(card_last4=None))
        # A refund's reason is the system's words, then ": " and what the client wrote.
        session.execute(
            update(Refund)
            .where(Refund.payment_id.in_(payment_ids), Refund.reason.contains(": "))
            .values(reason=func.split_part(Refund.reason, ": ", 1))
        )
    if review_ids:
        session.execute(update(Review).where(Review.id.in_(review_ids)).values(text=""))
    session.execute(update(Provider).where(Provider.user_id == user.id).values(user_id=None))
    session.execute(delete(IdempotencyKey).where(IdempotencyKey.user_id == user.id))
    session.execute(delete(RefreshToken).where(RefreshToken.user_id == user.id))
    moment = revocation.revoke_all(session=session, user_id=user.id)
    user.email = f"anonymised-{user.id}@invalid"
    user.full_name = ANONYMISED_NAME
    user.phone = None
    user.timezone = None
    user.password_hash = UNUSABLE_PASSWORD
    user.anonymised_at = moment
    report = AnonymisationReport(
        user_id=user.id,
        role=user.role,
        already_anonymised=False,
        dry_run=False,
        anonymised_at=moment,
        bookings=len(booking_ids),
        payments=len(payment_ids),
        reviews=len(review_ids),
        audit_rows_redacted=len(redactions),
    )
    audit.record(
        session=session,
        actor=actor,
        action="account.anonymised",
        entity="user",
        entity_id=user.id,
        after={"by": by, **{k: v for k, v in report.to_dict().items() if k != "user_id"}},
    )
    session.flush()
    return report


def delete_own_account(
    *,
    session: Session,
    cache: redis.Redis | None,
    fallback: Engine | None,
    settings: Settings,
    address: str,
    principal: Principal,
    password: str,
) -> AnonymisationReport:
    """The caller anonymises their own account, after proving it with their password.

    A wrong password counts as a failed login (login_throttle): a stolen access token
    must not become a way to guess the password, nor to delete the account.
    """
    login_throttle.refuse_if_throttled(
        cache=cache, fallback=fallback, settings=settings, address=address
    )
    user = find_account(session=session, user_id=principal.id)
    if not passwords.verify_password(user.password_hash, password, settings=settings):
        session.rollback()  # nothing to keep; free the connection before counting
        login_throttle.note_failure(
            cache=cache, fallback=fallback, settings=settings, address=address
        )
        raise PermissionDeniedError(
            "password: it does not match this account; the account was not deleted"
        )
    return anonymise_client(session=session, user_id=principal.id, actor=principal, by="self")


def _refuse_if_needed(session: Session, user: User) -> None:
    if user.role == "admin":
        raise GuardRefusedError(
            f"account {user.id} is an admin; admin accounts are not anonymised (the operators' "
            "trail needs them): change its role first"
        )
    shops = session.scalar(select(func.count()).select_from(Shop).where(Shop.owner_id == user.id))
    if shops:
        raise GuardRefusedError(
            f"account {user.id} still owns {shops} shop(s); hand them over to another owner "
            "first: a shop's books need an owner"
        )
    now = datetime.now(UTC)
    upcoming = session.scalars(
        select(Booking.id).where(
            Booking.client_id == user.id,
            Booking.ends_at > now,
            or_(
                Booking.status == "confirmed",
                and_(Booking.status == "pending_payment", Booking.hold_expires_at > now),
            ),
        )
    ).all()
    if upcoming:
        raise GuardRefusedError(
            f"the account has {len(upcoming)} upcoming booking(s) "
            f"({', '.join(str(b) for b in upcoming[:5])}); cancel them first (the shop's "
            "cancellation policy applies), then delete the account",
            details={"upcoming_bookings": [str(b) for b in upcoming]},
        )


def _redacted(values: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if values is None:
        return None
    return {
        key: REDACTED if key in PERSONAL_KEYS and value not in (None, "") else value
        for key, value in values.items()
    }


def _redact_audit_rows(
    session: Session,
    redactions: Sequence[tuple[AuditEntry, dict[str, Any] | None, dict[str, Any] | None]],
) -> None:
    """Replace personal values in audit rows: the one UPDATE the trigger allows (0008)."""
    if not redactions:
        return
    session.execute(text("SET LOCAL chairside.audit_redact = 'personal-data'"))
    for entry, before, after in redactions:
        # Only the changed columns: a None written to JSONB would become JSON null, not
        # SQL NULL, and the trigger would rightly refuse that as a rewrite.
        values = {
            name: new
            for name, new, old in (("before", before, entry.before), ("after", after, entry.after))
            if new != old
        }
        session.execute(update(AuditEntry).where(AuditEntry.id == entry.id).values(**values))
    session.execute(text("SET LOCAL chairside.audit_redact = ''"))
    for entry, _, _ in redactions:
        session.expire(entry)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None
