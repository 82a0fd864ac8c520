"""Business metrics: booking and payment attempts as they happen, and state at scrape time.

Two sources, neither of which makes the booking code know Prometheus exists:

- **attempts** (``chairside_booking_attempts_total{outcome}``,
  ``chairside_payment_attempts_total{outcome}``) are read off the HTTP exchange by
  :class:`BusinessMetricsMiddleware`: the route template and the status code already say
  what happened (201 created, 200 an idempotent replay, 409 slot taken, 402 declined…);
- **state** (``chairside_bookings{status}``, ``chairside_payments{status}``,
  ``chairside_refunds``, ``chairside_refunded_amount_minor{currency}``) is counted in the
  database when Prometheus scrapes (cached for ``health_cache_seconds``), so every worker
  reports the same numbers.

Smoke-test canaries are left out of both: their requests carry ``X-Chairside-Canary`` and
their rows belong to canary accounts (``ops/health/smoke/canary.py``).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from chairside.ops.health.smoke.canary import CANARY_HEADER, REAL_CLIENT

BOOKING_ROUTE = "/api/v1/bookings"
PAY_ROUTE = "/api/v1/bookings/{booking_id}/pay"
# Matched on the path, not the route template: a request refused before routing
# (maintenance mode, read-only mode) is an attempt too.
_PAY_PATH = re.compile(r"^/api/v1/bookings/[^/]+/pay/?$")
BOOKING_STATUSES = ("pending_payment", "confirmed", "completed", "cancelled", "no_show", "expired")
PAYMENT_STATUSES = ("pending", "succeeded", "failed", "refunded", "partially_refunded")

_BOOKING_OUTCOMES = {201: "created", 200: "replayed", 409: "conflict", 422: "invalid"}
_PAYMENT_OUTCOMES = {200: "succeeded", 202: "pending", 402: "declined", 409: "conflict"}


class BusinessMetrics:
    """The attempt counters of one app."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.booking_attempts = Counter(
            "chairside_booking_attempts",
            "Booking creation requests by outcome (canary traffic excluded).",
            ["outcome"],
            registry=registry,
        )
        self.payment_attempts = Counter(
            "chairside_payment_attempts",
            "Payment requests by outcome (canary traffic excluded).",
            ["outcome"],
            registry=registry,
        )
        for outcome in {*_BOOKING_OUTCOMES.values(), "rate_limited", "refused", "error"}:
            self.booking_attempts.labels(outcome=outcome)
        for outcome in {*_PAYMENT_OUTCOMES.values(), "refused", "error"}:
            self.payment_attempts.labels(outcome=outcome)

    def record(self, *, method: str, route: str, status: int) -> None:
        """Count one finished request if it was a booking or a payment attempt."""
        if method != "POST":
            return
        if route == BOOKING_ROUTE:
            self.booking_attempts.labels(outcome=_outcome(status, _BOOKING_OUTCOMES)).inc()
        elif route == PAY_ROUTE:
            self.payment_attempts.labels(outcome=_outcome(status, _PAYMENT_OUTCOMES)).inc()


def _outcome(status: int, known: dict[int, str]) -> str:
    if status in known:
        return known[status]
    if status == 429:
        return "rate_limited"
    if status >= 500:
        return "error"
    return "refused"


class BusinessMetricsMiddleware:
    """Counts booking and payment attempts from the route template and status code."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or _is_canary(scope):
            await self.app(scope, receive, send)
            return
        status = 500

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        path: str = scope["path"]
        route = (
            BOOKING_ROUTE
            if path.rstrip("/") == BOOKING_ROUTE
            else PAY_ROUTE
            if _PAY_PATH.match(path)
            else None
        )
        try:
            await self.app(scope, receive, capture)
        finally:
            if route is not None:
                metrics: BusinessMetrics = scope["app"].state.context.monitoring.business
                metrics.record(method="POST", route=route, status=status)


def _is_canary(scope: Scope) -> bool:
    header = CANARY_HEADER.encode()
    return any(name == header for name, _ in scope["headers"])


class BusinessStateCollector(Collector):
    """Bookings by status, payments by status and refunds, counted in the database."""

    def __init__(self, engine: Engine, *, cache_seconds: float) -> None:
        self.engine = engine
        self.cache_seconds = cache_seconds
        self._lock = threading.Lock()
        self._cached: tuple[float, list[Metric]] | None = None

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            if self._cached is None or time.monotonic() - self._cached[0] > self.cache_seconds:
                try:
                    self._cached = (time.monotonic(), self._read())
                except SQLAlchemyError:
                    # The database check already reports the outage; a scrape must not fail.
                    self._cached = None
                    return
            metrics = self._cached[1]
        yield from metrics

    def _read(self) -> list[Metric]:
        real = f"JOIN users u ON u.id = b.client_id WHERE {REAL_CLIENT}"
        with self.engine.connect() as conn:
            bookings: dict[str, int] = {
                str(status): int(n)
                for status, n in conn.execute(
                    text(f"SELECT b.status, count(*) FROM bookings b {real} GROUP BY b.status")
                )
            }
            payments: dict[str, int] = {
                str(status): int(n)
                for status, n in conn.execute(
                    text(
                        "SELECT p.status, count(*) FROM payments p "
                        f"JOIN bookings b ON b.id = p.booking_id {real} GROUP BY p.status"
                    )
                )
            }
            refunds = conn.execute(
                text(
                    "SELECT p.currency, count(*), coalesce(sum(r.amount_minor), 0) FROM refunds r "
                    "JOIN payments p ON p.id = r.payment_id "
                    f"JOIN bookings b ON b.id = p.booking_id {real} GROUP BY p.currency"
                )
            ).all()
        booking_family = GaugeMetricFamily(
            "chairside_bookings", "Bookings by status (canaries excluded).", labels=["status"]
        )
        for status in sorted({*BOOKING_STATUSES, *bookings}):
            booking_family.add_metric([status], float(bookings.get(status, 0)))
        payment_family = GaugeMetricFamily(
            "chairside_payments", "Payments by status (canaries excluded).", labels=["status"]
        )
        for status in sorted({*PAYMENT_STATUSES, *payments}):
            payment_family.add_metric([status], float(payments.get(status, 0)))
        amount = GaugeMetricFamily(
            "chairside_refunded_amount_minor",
            "Money refunded so far, in minor units, by currency (canaries excluded).",
            labels=["currency"],
        )
        for currency, _count, total in refunds:
            amount.add_metric([str(currency).strip()], float(total))
        count = GaugeMetricFamily(
            "chairside_refunds",
            "Refunds made so far (canaries excluded).",
            value=float(sum(int(row[1]) for row in refunds)),
        )
        return [booking_family, payment_family, count, amount]
