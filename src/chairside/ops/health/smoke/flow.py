"""The smoke flow: register, search, availability, book, pay, cancel, refund, clean up.

Each step is one or a few HTTP calls against the running API, timed and reported as a
check result. The first failing step is ``critical`` and names what it got; the steps
after it are ``unknown`` (not run). Whatever happened, the canary's rows are removed
from the database at the end (``canary.py``), and the removal is the last step reported.
Every request carries ``X-Chairside-Canary: 1`` so business metrics can skip it.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy.exc import SQLAlchemyError

from chairside.accounts.passwords import generate_password
from chairside.checks import CheckResult, CheckStatus
from chairside.config import Settings
from chairside.db import database_url, make_engine
from chairside.errors import ChairsideError
from chairside.ops.health.smoke import canary

STEPS = ("register", "setup", "search", "availability", "book", "pay", "cancel", "refund")
SERVICE_NAME = "Canary cut"
PRICE_MINOR = 100


class StepFailed(Exception):
    """A smoke step got something other than what a working service answers."""


@dataclass
class SmokeRun:
    """The timed steps of one smoke run and how long it took."""

    run_id: str
    steps: list[CheckResult] = field(default_factory=list)
    duration_seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return all(step.status is CheckStatus.OK for step in self.steps)


@dataclass
class _State:
    password: str = field(default_factory=generate_password)
    owner: dict[str, str] = field(default_factory=dict)
    client: dict[str, str] = field(default_factory=dict)
    shop_id: str = ""
    provider_id: str = ""
    service_id: str = ""
    slot: str = ""
    booking: dict[str, Any] = field(default_factory=dict)


def run_smoke(settings: Settings, *, base_url: str) -> SmokeRun:
    """Walk the booking flow against ``base_url`` as a canary client, then clean up."""
    started = time.perf_counter()
    run = SmokeRun(run_id=uuid.uuid4().hex[:12])
    state = _State()
    headers = {canary.CANARY_HEADER: "1", "user-agent": "chairside-smoke"}
    with httpx.Client(
        base_url=base_url.rstrip("/") + "/api/v1",
        timeout=settings.smoke_timeout_seconds,
        headers=headers,
    ) as http:
        flow = _Flow(http, state, run.run_id, settings.smoke_card)
        steps: list[tuple[str, Callable[[], str]]] = [
            ("register", flow.register),
            ("setup", flow.setup),
            ("search", flow.search),
            ("availability", flow.availability),
            ("book", flow.book),
            ("pay", flow.pay),
            ("cancel", flow.cancel),
            ("refund", flow.refund),
        ]
        failed: str | None = None
        for name, step in steps:
            if failed is not None:
                run.steps.append(
                    CheckResult(name, CheckStatus.UNKNOWN, f"not run: {failed} failed")
                )
                continue
            result = _timed(name, step)
            run.steps.append(result)
            if result.status is not CheckStatus.OK:
                failed = name
    run.steps.append(_cleanup(settings, run.run_id))
    run.duration_seconds = time.perf_counter() - started
    return run


def _timed(name: str, step: Callable[[], str]) -> CheckResult:
    started = time.perf_counter()
    try:
        summary = step()
    except StepFailed as exc:
        return CheckResult(name, CheckStatus.CRITICAL, str(exc), _ms(started))
    except httpx.HTTPError as exc:
        return CheckResult(
            name, CheckStatus.CRITICAL, f"no answer: {type(exc).__name__}: {exc}", _ms(started)
        )
    return CheckResult(name, CheckStatus.OK, summary, _ms(started))


def _cleanup(settings: Settings, run_id: str) -> CheckResult:
    started = time.perf_counter()
    try:
        engine = make_engine(database_url(settings), pool_size=1)
    except ChairsideError as exc:
        return CheckResult("cleanup", CheckStatus.CRITICAL, exc.message, _ms(started))
    try:
        removed = canary.remove_canaries(engine, run_id=run_id)
        # Canaries of runs killed midway (older than an hour) go too.
        stale = canary.remove_canaries(engine, min_age_seconds=3600)
    except SQLAlchemyError as exc:
        return CheckResult(
            "cleanup",
            CheckStatus.CRITICAL,
            f"canary rows of run {run_id} may remain: {str(exc).splitlines()[0][:200]}",
            _ms(started),
        )
    finally:
        engine.dispose()
    summary = f"removed {removed.total} canary rows"
    if stale.total:
        summary += f" (and {stale.total} left by earlier runs)"
    return CheckResult(
        "cleanup", CheckStatus.OK, summary, _ms(started), details={"removed": removed.counts}
    )


class _Flow:
    """The steps, sharing what earlier steps created."""

    def __init__(self, http: httpx.Client, state: _State, run_id: str, card: str) -> None:
        self.http = http
        self.state = state
        self.run_id = run_id
        self.card = card

    def register(self) -> str:
        self.state.owner = self._account("owner")
        self.state.client = self._account("client")
        return "registered and logged in a canary owner and client"

    def setup(self) -> str:
        owner = _auth(self.state.owner)
        shop = self._expect(
            self.http.post(
                "/shops",
                headers=owner,
                json={
                    "name": f"{canary.CANARY_SHOP_PREFIX} {self.run_id}",
                    "latitude": canary.CANARY_LATITUDE,
                    "longitude": canary.CANARY_LONGITUDE,
                    "timezone": "UTC",
                    "currency": "EUR",
                    "free_cancel_hours": 1,
                    "min_notice_minutes": 0,
                    "slot_step_minutes": 15,
                },
            ),
            201,
            "create the canary shop",
        )
        self.state.shop_id = shop["id"]
        service = self._expect(
            self.http.post(
                f"/shops/{self.state.shop_id}/services",
                headers=owner,
                json={"name": SERVICE_NAME, "duration_minutes": 15, "price_minor": PRICE_MINOR},
            ),
            201,
            "add a service",
        )
        self.state.service_id = service["id"]
        provider = self._expect(
            self.http.post(
                f"/shops/{self.state.shop_id}/providers",
                headers=owner,
                json={"name": "Canary", "service_ids": [self.state.service_id]},
            ),
            201,
            "add a provider",
        )
        self.state.provider_id = provider["id"]
        days = [{"weekday": d, "start": "00:00", "end": "23:45"} for d in range(7)]
        self._expect(
            self.http.put(
                f"/providers/{self.state.provider_id}/hours", headers=owner, json={"days": days}
            ),
            200,
            "set working hours",
        )
        return f"canary shop {self.state.shop_id} with one provider and service"

    def search(self) -> str:
        hits = self._expect(
            self.http.get(
                "/search/providers",
                params={
                    "service": SERVICE_NAME,
                    "lat": canary.CANARY_LATITUDE,
                    "lon": canary.CANARY_LONGITUDE,
                    "radius_km": 1,
                },
            ),
            200,
            "search providers",
        )
        if not any(hit.get("provider_id") == self.state.provider_id for hit in hits):
            raise StepFailed(
                f"search near 0,0 did not find canary provider {self.state.provider_id}"
            )
        return f"found the canary provider among {len(hits)} hits"

    def availability(self) -> str:
        day = (datetime.now(UTC) + timedelta(days=2)).date().isoformat()
        body = self._expect(
            self.http.get(
                f"/providers/{self.state.provider_id}/availability",
                params={"service_id": self.state.service_id, "from": day, "to": day},
            ),
            200,
            "read availability",
        )
        slots = body.get("slots") or []
        if not slots:
            raise StepFailed(f"no free slot on {day} for a provider working all day")
        self.state.slot = slots[0]
        return f"{len(slots)} free slots on {day}"

    def book(self) -> str:
        headers = {**_auth(self.state.client), "Idempotency-Key": f"smoke-{self.run_id}"}
        booking = self._expect(
            self.http.post(
                "/bookings",
                headers=headers,
                json={
                    "provider_id": self.state.provider_id,
                    "service_id": self.state.service_id,
                    "starts_at": self.state.slot,
                },
            ),
            201,
            "book the first slot",
        )
        if booking.get("status") != "pending_payment":
            raise StepFailed(f"new booking is {booking.get('status')!r}, not pending_payment")
        self.state.booking = booking
        return f"booking {booking['id']} at {self.state.slot} held for payment"

    def pay(self) -> str:
        booking = self._expect(
            self.http.post(
                f"/bookings/{self.state.booking['id']}/pay",
                headers=_auth(self.state.client),
                json={"payment_method": self.card, "provider": "simulated"},
            ),
            200,
            "pay with the simulated provider",
        )
        if booking.get("status") != "confirmed":
            raise StepFailed(f"paid booking is {booking.get('status')!r}, not confirmed")
        return "paid with the simulated provider; booking confirmed"

    def cancel(self) -> str:
        booking = self._expect(
            self.http.post(
                f"/bookings/{self.state.booking['id']}/cancel", headers=_auth(self.state.client)
            ),
            200,
            "cancel",
        )
        if booking.get("status") != "cancelled":
            raise StepFailed(f"cancelled booking is {booking.get('status')!r}")
        self.state.booking = booking
        return "cancelled inside the free cancellation window"

    def refund(self) -> str:
        booking = self._expect(
            self.http.get(
                f"/bookings/{self.state.booking['id']}", headers=_auth(self.state.client)
            ),
            200,
            "read the cancelled booking",
        )
        payments = booking.get("payments") or []
        refunded = [p for p in payments if p.get("status") == "refunded"]
        if not refunded or refunded[0].get("refunded_minor") != PRICE_MINOR:
            states = [(p.get("status"), p.get("refunded_minor")) for p in payments]
            raise StepFailed(f"expected a full refund of {PRICE_MINOR}, payments are {states}")
        return f"refunded {PRICE_MINOR} minor units in full"

    def _account(self, role: str) -> dict[str, str]:
        email = canary.canary_email(self.run_id, role)
        self._expect(
            self.http.post(
                "/auth/register",
                json={
                    "email": email,
                    "password": self.state.password,
                    "full_name": f"Smoke {role}",
                    "role": role,
                },
            ),
            202,
            f"register the canary {role}",
        )
        tokens = self._expect(
            self.http.post("/auth/login", json={"email": email, "password": self.state.password}),
            200,
            f"log the canary {role} in",
        )
        return {"email": email, "token": tokens["access_token"]}

    @staticmethod
    def _expect(response: httpx.Response, status: int, what: str) -> Any:
        if response.status_code != status:
            raise StepFailed(
                f"{what}: {response.request.method} {response.request.url.path} answered "
                f"{response.status_code} (expected {status}): {_detail(response)}"
            )
        return response.json()


def _auth(account: dict[str, str]) -> dict[str, str]:
    return {"Authorization": f"Bearer {account['token']}"}


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(body, dict):
        return str(body.get("detail") or body)[:300]
    return str(body)[:300]


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)
