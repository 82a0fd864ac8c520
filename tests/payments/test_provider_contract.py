"""One contract for every PaymentProvider: run against ``simulated`` and ``stripe``.

The stripe adapter is exercised at its HTTP boundary: the official SDK talks to a local
stand-in for api.stripe.com (``fake_stripe.py``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import select

from chairside.api.app import create_app
from chairside.config import Settings
from chairside.db import make_engine, make_session_factory
from chairside.errors import AuthError
from chairside.payments import simulated
from chairside.payments.models import SimulatedWebhook
from chairside.payments.provider import PaymentProvider
from chairside.payments.simulated import SimulatedProvider
from chairside.payments.stripe_provider import StripeProvider
from tests.booking.world import book, future_day, local, make_shop, register, sql
from tests.payments import fake_stripe


@dataclass
class Subject:
    """A provider under test and how the test plays the processor's side of it."""

    provider: PaymentProvider
    succeeds: str
    declines: str
    settles_later: str
    settle: Callable[[str], tuple[bytes, dict[str, str]]]  # ref -> final signed webhook
    settings: Settings


@pytest.fixture(params=["simulated", "stripe"])
def subject(
    request: pytest.FixtureRequest, booking_settings: Settings, database_url: str
) -> Iterator[Subject]:
    if request.param == "simulated":
        engine = make_engine(database_url, pool_size=1)
        session = make_session_factory(engine)()
        secret = "sim-secret-" + "x" * 20
        provider = SimulatedProvider(session=session, secret=secret, delay_seconds=0)

        def settle(ref: str) -> tuple[bytes, dict[str, str]]:
            session.flush()
            rows = session.scalars(select(SimulatedWebhook).order_by(SimulatedWebhook.id)).all()
            final = [r for r in rows if json.loads(r.body)["data"]["payment_ref"] == ref][-1]
            return final.body.encode(), {"chairside-signature": simulated.sign(final.body, secret)}

        yield Subject(
            provider=provider,
            succeeds=simulated.CARD_SUCCEEDS,
            declines=simulated.CARD_DECLINED,
            settles_later=simulated.CARD_SUCCEEDS_LATER,
            settle=settle,
            settings=booking_settings.model_copy(
                update={"simulated_webhook_secret": SecretStr(secret)}
            ),
        )
        session.rollback()
        session.close()
        engine.dispose()
        return
    with fake_stripe.fake_stripe() as server:
        stripe_settings = booking_settings.model_copy(
            update={
                "payment_provider": "stripe",
                "stripe_api_key": SecretStr("sk_test_" + "k" * 24),
                "stripe_webhook_secret": SecretStr(server.webhook_secret),
                "stripe_api_base": server.base_url,
            }
        )
        yield Subject(
            provider=StripeProvider(
                api_key="sk_test_" + "k" * 24,
                webhook_secret=server.webhook_secret,
                api_base=server.base_url,
            ),
            succeeds=fake_stripe.PM_SUCCEEDS,
            declines=fake_stripe.PM_DECLINED,
            settles_later=fake_stripe.PM_PROCESSING,
            settle=lambda ref: server.signed_event("payment_intent.succeeded", ref),
            settings=stripe_settings,
        )


def _charge(subject: Subject, method: str, key: str = "k1") -> object:
    return subject.provider.charge(
        amount_minor=2500,
        currency="EUR",
        payment_method=method,
        reference="b-1",
        idempotency_key=key,
    )


def test_a_good_card_succeeds_with_a_reference(subject: Subject) -> None:
    result = _charge(subject, subject.succeeds)
    assert result.status == "succeeded"  # type: ignore[attr-defined]
    assert result.provider_ref  # type: ignore[attr-defined]


def test_a_declined_card_is_a_failed_result_with_a_reason(subject: Subject) -> None:
    result = _charge(subject, subject.declines)
    assert result.status == "failed"  # type: ignore[attr-defined]
    assert "declin" in (result.failure_reason or "")  # type: ignore[attr-defined]


def test_a_later_payment_is_pending_then_settled_by_a_verified_webhook(subject: Subject) -> None:
    result = _charge(subject, subject.settles_later)
    assert result.status == "pending"  # type: ignore[attr-defined]
    body, headers = subject.settle(result.provider_ref)  # type: ignore[attr-defined]
    event = subject.provider.parse_webhook(body=body, headers=headers)
    assert event.kind == "payment.succeeded"
    assert event.provider_ref == result.provider_ref  # type: ignore[attr-defined]
    assert event.event_id


def test_a_tampered_or_unsigned_webhook_is_refused(subject: Subject) -> None:
    result = _charge(subject, subject.settles_later)
    body, headers = subject.settle(result.provider_ref)  # type: ignore[attr-defined]
    tampered = body.replace(b"succeeded", b"succeedeX")
    with pytest.raises(AuthError):
        subject.provider.parse_webhook(body=tampered, headers=headers)
    with pytest.raises(AuthError):
        subject.provider.parse_webhook(body=body, headers={})


def test_a_partial_refund_is_accepted_for_the_amount_asked(subject: Subject) -> None:
    result = _charge(subject, subject.succeeds)
    refund = subject.provider.refund(
        provider_ref=result.provider_ref,
        amount_minor=700,
        idempotency_key="r1",  # type: ignore[attr-defined]
    )
    assert refund.amount_minor == 700
    assert refund.provider_ref


def test_the_app_pays_confirms_and_refunds_through_the_provider(
    subject: Subject, database_url: str
) -> None:
    with TestClient(create_app(subject.settings)) as client:
        shop = make_shop(client)
        alice = register(client)
        booking = book(client, alice, shop, local(future_day(5), "10:00")).json()
        paid = client.post(
            f"/api/v1/bookings/{booking['id']}/pay",
            headers=alice.headers,
            json={"payment_method": subject.succeeds},
        )
        assert paid.status_code == 200, paid.text
        assert paid.json()["status"] == "confirmed"
        assert paid.json()["payments"][0]["provider"] == subject.provider.name
        cancelled = client.post(f"/api/v1/bookings/{booking['id']}/cancel", headers=alice.headers)
        assert cancelled.json()["payments"][0]["status"] == "refunded"
    assert sql(database_url, "SELECT amount_minor FROM refunds") == [(2500,)]


def test_the_app_settles_a_later_payment_from_the_providers_webhook(
    subject: Subject, database_url: str
) -> None:
    with TestClient(create_app(subject.settings)) as client:
        shop = make_shop(client)
        alice = register(client)
        booking = book(client, alice, shop, local(future_day(5), "10:00")).json()
        pending = client.post(
            f"/api/v1/bookings/{booking['id']}/pay",
            headers=alice.headers,
            json={"payment_method": subject.settles_later},
        )
        assert pending.status_code == 202, pending.text
        ref = sql(database_url, "SELECT provider_ref FROM payments")[0][0]
        if subject.provider.name == "simulated":
            row = sql(
                database_url,
                "SELECT body FROM simulated_webhook_outbox WHERE body LIKE '%payment.succeeded%'",
            )[0][0]
            body, headers = (
                row.encode(),
                {
                    "chairside-signature": simulated.sign(
                        row, subject.settings.simulated_webhook_secret.get_secret_value()
                    )
                },
            )
        else:
            body, headers = subject.settle(ref)
        delivered = client.post(
            f"/api/v1/webhooks/{subject.provider.name}", content=body, headers=headers
        )
        assert delivered.status_code == 200, delivered.text
        assert delivered.json()["outcome"] == "confirmed"
        mine = client.get(f"/api/v1/bookings/{booking['id']}", headers=alice.headers).json()
        assert mine["status"] == "confirmed"
        assert mine["payments"][0]["status"] == "succeeded"
