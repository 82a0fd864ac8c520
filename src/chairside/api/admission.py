"""Admission: how many requests may use the database at once, and how long others wait.

A request on the booking side hops between the event loop and worker threads (each sync
dependency and the route is a hop) and keeps its pooled connection from the first
statement to the commit. Unbounded, a burst let more requests start than there were
connections: their threads then blocked on the pool while the requests holding the
connections waited for a thread, a deadlock that ``pool_timeout`` broke after 10 s with
500s (issue 14). Admitting at most ``db_pool_size`` requests at a time, with at least as
many threads (config.py checks), means an admitted request never waits for a connection
or a thread; the rest wait here, in the event loop, holding neither, for at most
``admission_wait_seconds``, and no more than ``admission_queue`` of them. Past that, and
at once while the database watch says PostgreSQL is down, the answer is 503 problem+json
with ``Retry-After`` (docs/architecture.md, "Capacity").
"""

from __future__ import annotations

import time

import anyio
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from chairside.api.context import AppContext
from chairside.api.problems import problem_response
from chairside.webapp.errors import error_page
from chairside.webapp.paths import accept_of, uses_database, wants_page

# What uses the database per request, with every web-app page (webapp/paths.py). Health,
# metrics, web-app assets and the ops console's page and summary do not (they read cached
# probes and the ops store) and must answer while the database is down or the queue is full.
ADMITTED_PREFIXES = ("/api/", "/ops/api/login")
BUSY_RETRY_AFTER_SECONDS = 1
INITIAL_SERVICE_SECONDS = 0.02
SMOOTHING = 0.1  # weight of the newest request in the smoothed service time
DOWN_RETRY_AFTER_SECONDS = 5


class Place:
    """One admitted request's place (the limiter's borrower: one per request, not per task)."""

    __slots__ = ("admitted_at",)

    def __init__(self) -> None:
        self.admitted_at = time.perf_counter()


class Admission:
    """At most ``capacity`` requests inside at once; ``queue`` more wait ``wait_seconds``."""

    def __init__(self, *, capacity: int, queue: int, wait_seconds: float) -> None:
        self.capacity = capacity
        self.queue = queue
        self.wait_seconds = wait_seconds
        self._limiter = anyio.CapacityLimiter(capacity)
        # How long an admitted request stays inside, smoothed (readiness and the 503's
        # detail report the expected wait from it).
        self.service_seconds = INITIAL_SERVICE_SECONDS

    @property
    def in_use(self) -> int:
        return int(self._limiter.borrowed_tokens)

    @property
    def waiting(self) -> int:
        return int(self._limiter.statistics().tasks_waiting)

    def has_room(self) -> bool:
        """False when a new request would be refused at once: every place taken, queue full."""
        return self._limiter.available_tokens >= 1 or self.waiting < self.queue

    def expected_wait_seconds(self) -> float:
        """How long a request arriving now would wait, from the queue and service times."""
        if self._limiter.available_tokens >= 1:
            return 0.0
        return (self.waiting + 1) * self.service_seconds / self.capacity

    async def enter(self) -> Place | None:
        """Wait for a place (bounded); None when refused. Give a place back with :meth:`leave`.

        Refused at once when the queue is full, else after ``wait_seconds`` without a place.
        Not at once on a mere forecast of a long wait: a client that ignores Retry-After
        retries an instant refusal instantly, and a refusal storm eats the CPU the admitted
        requests need (measured: 9,866 refusals in 10 s from 50 closed-loop clients);
        holding the refusal for the bound paces such clients.
        """
        if not self.has_room():
            return None
        place = Place()
        with anyio.move_on_after(self.wait_seconds):
            await self._limiter.acquire_on_behalf_of(place)
            return place
        return None

    def leave(self, place: Place) -> None:
        self._limiter.release_on_behalf_of(place)
        inside = time.perf_counter() - place.admitted_at
        self.service_seconds += SMOOTHING * (inside - self.service_seconds)

    def to_dict(self) -> dict[str, object]:
        return {
            "capacity": self.capacity,
            "in_use": self.in_use,
            "waiting": self.waiting,
            "queue": self.queue,
            "wait_seconds": self.wait_seconds,
            "service_seconds": round(self.service_seconds, 4),
            "expected_wait_seconds": round(self.expected_wait_seconds(), 3),
        }


class AdmissionMiddleware:
    """Admits database-bound requests through the app's :class:`Admission`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = str(scope.get("path", ""))
        if scope["type"] != "http" or not (
            path.startswith(ADMITTED_PREFIXES) or uses_database(path)
        ):
            await self.app(scope, receive, send)
            return
        # People get an HTML page, programs problem+json.
        web = wants_page(path, accept_of(scope["headers"]))
        context: AppContext = scope["app"].state.context
        database = context.database.state()
        refusal: Response | None = None
        if not database.reachable:
            refusal = (
                error_page(
                    503,
                    "Chairside cannot reach its database right now. Please try again shortly.",
                    retry_after=DOWN_RETRY_AFTER_SECONDS,
                )
                if web
                else problem_response(
                    503,
                    f"the database is unreachable ({database.error}); try again shortly",
                    headers={"Retry-After": str(DOWN_RETRY_AFTER_SECONDS)},
                )
            )
            await refusal(scope, receive, send)
            return
        admission = context.admission
        place = await admission.enter()
        if place is None:
            refusal = (
                error_page(
                    503,
                    "Chairside is very busy right now. Please try again in a moment.",
                    retry_after=BUSY_RETRY_AFTER_SECONDS,
                )
                if web
                else problem_response(
                    503,
                    f"busy: {admission.capacity} requests in progress and {admission.waiting} "
                    f"waiting on this worker (about {admission.expected_wait_seconds():.1f} s); "
                    f"try again in {BUSY_RETRY_AFTER_SECONDS} s",
                    headers={"Retry-After": str(BUSY_RETRY_AFTER_SECONDS)},
                )
            )
            await refusal(scope, receive, send)
            return
        place.admitted_at = time.perf_counter()
        try:
            await self.app(scope, receive, send)
        finally:
            admission.leave(place)
