"""The ``simulated`` card processor: a processor's test mode, built in.

Test card numbers (docs/booking.md lists them for client developers):

==================  ==========================================================
4242424242424242    succeeds at once
4000000000000002    declined (``card_declined``)
4000000000009995    declined (``insufficient_funds``)
4000000000000077    pending; succeeds later through a ``payment.succeeded`` webhook
4000000000000341    pending; fails later through a ``payment.failed`` webhook
==================  ==========================================================

Any other number is refused as not a test card. Webhooks are JSON bodies signed like
Stripe's (header ``Chairside-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "t.body">``),
written to the ``simulated_webhook_outbox`` table in the charging transaction, and posted
to ``POST /api/v1/webhooks/simulated`` once due by :func:`deliver_due`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from chairside.errors import AuthError, InputError
from chairside.payments.models import SimulatedWebhook
from chairside.payments.provider import ChargeResult, EventKind, PaymentEvent, RefundResult

log = logging.getLogger("chairside.payments.simulated")

SIGNATURE_HEADER = "chairside-signature"
TOLERANCE_SECONDS = 300

CARD_SUCCEEDS = "4242424242424242"
CARD_DECLINED = "4000000000000002"
CARD_INSUFFICIENT_FUNDS = "4000000000009995"
CARD_SUCCEEDS_LATER = "4000000000000077"
CARD_FAILS_LATER = "4000000000000341"
TEST_CARDS = {
    CARD_SUCCEEDS: "succeeds",
    CARD_DECLINED: "declined: card_declined",
    CARD_INSUFFICIENT_FUNDS: "declined: insufficient_funds",
    CARD_SUCCEEDS_LATER: "pending, succeeds later by webhook",
    CARD_FAILS_LATER: "pending, fails later by webhook",
}


def sign(body: str, secret: str, *, timestamp: int | None = None) -> str:
    """The signature header value for ``body``."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{timestamp}.{body}".encode(), hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify(body: bytes, header: str | None, secret: str, *, now: float | None = None) -> None:
    """Refuse a body whose signature is missing, wrong or too old."""
    if not header:
        raise AuthError(f"missing {SIGNATURE_HEADER} header")
    parts = dict(item.split("=", 1) for item in header.split(",") if "=" in item)
    try:
        timestamp = int(parts["t"])
        given = parts["v1"]
    except (KeyError, ValueError):
        raise AuthError(
            f"malformed {SIGNATURE_HEADER} header; expected t=<unix>,v1=<hex>"
        ) from None
    now = time.time() if now is None else now
    if abs(now - timestamp) > TOLERANCE_SECONDS:
        raise AuthError(
            f"webhook timestamp {timestamp} is outside the {TOLERANCE_SECONDS} s tolerance"
        )
    expected = hmac.new(
        secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256
    ).hexdigest()
    if not hmac.compare_digest(expected, given):
        raise AuthError("webhook signature does not match the body")


class SimulatedProvider:
    """Behaves like a card processor in test mode; its webhooks go through the outbox."""

    name = "simulated"

    def __init__(self, *, session: Session, secret: str, delay_seconds: float = 2.0) -> None:
        self._session = session
        self._secret = secret
        self._delay = timedelta(seconds=delay_seconds)

    def charge(
        self,
        *,
        amount_minor: int,
        currency: str,
        payment_method: str,
        reference: str,
        idempotency_key: str,
    ) -> ChargeResult:
        """Charge a test card."""
        card = payment_method.replace(" ", "").replace("-", "")
        if card not in TEST_CARDS:
            allowed = "; ".join(f"{number} ({what})" for number, what in TEST_CARDS.items())
            raise InputError(
                f"card {card[-4:].rjust(len(card), '*')!r} is not a test card of the simulated "
                f"provider; use one of: {allowed}",
                field="payment_method",
            )
        ref = "sim_ch_" + hashlib.sha256(idempotency_key.encode()).hexdigest()[:24]
        last4 = card[-4:]
        if card == CARD_SUCCEEDS:
            return ChargeResult(provider_ref=ref, status="succeeded", card_last4=last4)
        if card in (CARD_DECLINED, CARD_INSUFFICIENT_FUNDS):
            reason = "insufficient_funds" if card == CARD_INSUFFICIENT_FUNDS else "card_declined"
            return ChargeResult(
                provider_ref=ref, status="failed", failure_reason=reason, card_last4=last4
            )
        final: EventKind = "payment.succeeded" if card == CARD_SUCCEEDS_LATER else "payment.failed"
        now = datetime.now(UTC)
        self._enqueue("payment.pending", ref, amount_minor, currency, deliver_after=now)
        self._enqueue(final, ref, amount_minor, currency, deliver_after=now + self._delay)
        return ChargeResult(provider_ref=ref, status="pending", card_last4=last4)

    def refund(self, *, provider_ref: str, amount_minor: int, idempotency_key: str) -> RefundResult:
        """Refund (part of) a charge."""
        if amount_minor <= 0:
            raise InputError(
                f"refund amount must be positive, got {amount_minor}", field="amount_minor"
            )
        ref = "sim_re_" + hashlib.sha256(idempotency_key.encode()).hexdigest()[:24]
        return RefundResult(provider_ref=ref, amount_minor=amount_minor)

    def parse_webhook(self, *, body: bytes, headers: Mapping[str, str]) -> PaymentEvent:
        """Verify and read a simulated webhook."""
        verify(body, headers.get(SIGNATURE_HEADER), self._secret)
        try:
            payload = json.loads(body)
            event_id = str(payload["id"])
            raw_type = str(payload["type"])
            data = payload.get("data") or {}
        except (ValueError, KeyError, TypeError):
            raise InputError(
                "webhook body is not a simulated event (needs id, type, data)"
            ) from None
        kinds: dict[str, EventKind] = {
            "payment.succeeded": "payment.succeeded",
            "payment.failed": "payment.failed",
            "payment.pending": "payment.pending",
        }
        return PaymentEvent(
            event_id=event_id,
            kind=kinds.get(raw_type, "other"),
            raw_type=raw_type,
            provider_ref=data.get("payment_ref"),
            failure_reason=data.get("failure_reason"),
        )

    def _enqueue(
        self, kind: str, ref: str, amount_minor: int, currency: str, *, deliver_after: datetime
    ) -> None:
        event_id = "sim_evt_" + secrets.token_hex(12)
        data: dict[str, object] = {
            "payment_ref": ref,
            "amount_minor": amount_minor,
            "currency": currency,
        }
        if kind == "payment.failed":
            data["failure_reason"] = "card_declined"
        body = json.dumps(
            {"id": event_id, "type": kind, "created": int(deliver_after.timestamp()), "data": data},
            separators=(",", ":"),
        )
        self._session.add(
            SimulatedWebhook(event_id=event_id, body=body, deliver_after=deliver_after)
        )


def due_webhooks(*, session: Session, now: datetime | None = None) -> list[SimulatedWebhook]:
    """Undelivered outbox rows whose time has come, oldest first."""
    now = now or datetime.now(UTC)
    return list(
        session.scalars(
            select(SimulatedWebhook)
            .where(SimulatedWebhook.delivered_at.is_(None), SimulatedWebhook.deliver_after <= now)
            .order_by(SimulatedWebhook.deliver_after, SimulatedWebhook.id)
            .with_for_update(skip_locked=True)
        )
    )


def outbox_state(*, session: Session, payment_ref: str) -> tuple[int, int]:
    """(queued, still undelivered) webhooks of one simulated charge."""
    mentions = SimulatedWebhook.body.contains(f'"payment_ref":"{payment_ref}"')
    queued = session.scalar(select(func.count()).where(mentions)) or 0
    waiting = (
        session.scalar(
            select(func.count()).where(mentions, SimulatedWebhook.delivered_at.is_(None))
        )
        or 0
    )
    return int(queued), int(waiting)


def deliver_due(*, sessions: sessionmaker[Session], url: str, secret: str) -> int:
    """POST every due simulated webhook to ``url``; returns how many were accepted."""
    delivered = 0
    with sessions() as session, session.begin():
        rows = due_webhooks(session=session)
        for row in rows:
            row.attempts += 1
            try:
                response = httpx.post(
                    url,
                    content=row.body,
                    headers={
                        "content-type": "application/json",
                        SIGNATURE_HEADER: sign(row.body, secret),
                    },
                    timeout=5.0,
                )
            except httpx.HTTPError as exc:
                log.warning(
                    "webhook delivery failed", extra={"event_id": row.event_id, "error": str(exc)}
                )
                continue
            if response.status_code < 300:
                row.delivered_at = datetime.now(UTC)
                delivered += 1
            else:
                log.warning(
                    "webhook refused",
                    extra={"event_id": row.event_id, "status": response.status_code},
                )
    return delivered
