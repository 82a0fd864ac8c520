"""A booking load through the public API, for failover drills, the topology test and bench.

A few clients book distinct slots of one provider as fast as their answers come back;
every tenth slot is asked for by two clients at once, so the exclusion constraint is
exercised during the failover too. Every attempt is kept (when it started and ended,
the HTTP status, the booking id), so a drill can tell what was acknowledged, what was
refused, and what happened to requests in flight at the moment of a kill.
"""

from __future__ import annotations

import itertools
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx

from chairside.errors import OperationFailedError

PASSWORD = "failover-drill-1"
SLOT_MINUTES = 15
# Starts from 00:00 to 22:45: every one of them ends inside the 00:00-23:45 hours.
SLOTS_PER_DAY = 92
# Each client stays well inside the booking rate limit of a lab API host.
REQUEST_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class Attempt:
    """One booking request and its answer (status 0: no answer, a transport error)."""

    started: float
    finished: float
    status: int
    booking_id: str | None
    slot: datetime
    error: str | None = None


@dataclass
class BookingWorld:
    """The shop, provider, service and client tokens the load books with."""

    provider_id: str
    service_id: str
    client_tokens: list[str]
    first_slot: datetime


@dataclass
class BookingLoad:
    """Clients booking through ``api_url`` until stopped; every attempt recorded."""

    api_url: str
    clients: int = 4
    attempts: list[Attempt] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _slots: itertools.count[int] = field(default_factory=itertools.count)
    _threads: list[threading.Thread] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    world: BookingWorld | None = None

    # ---- preparing ---------------------------------------------------------------------

    def prepare(self) -> BookingWorld:
        """An owner, a shop open around the clock with one provider, and the clients."""
        with httpx.Client(base_url=self.api_url, timeout=REQUEST_TIMEOUT_SECONDS) as http:
            owner = _account(http, "owner")
            shop = _created(
                http.post(
                    "/api/v1/shops",
                    headers=_auth(owner),
                    json={
                        "name": f"Drill {uuid.uuid4().hex[:6]}",
                        "address": "Drill Street 1",
                        "latitude": 52.52,
                        "longitude": 13.405,
                        "timezone": "UTC",
                        "currency": "EUR",
                        "min_notice_minutes": 0,
                        "slot_step_minutes": SLOT_MINUTES,
                    },
                )
            )
            service = _created(
                http.post(
                    f"/api/v1/shops/{shop}/services",
                    headers=_auth(owner),
                    json={
                        "name": "Drill cut",
                        "duration_minutes": SLOT_MINUTES,
                        "price_minor": 100,
                    },
                )
            )
            provider = _created(
                http.post(
                    f"/api/v1/shops/{shop}/providers",
                    headers=_auth(owner),
                    json={"name": "Drill", "service_ids": [service]},
                )
            )
            hours = [{"weekday": d, "start": "00:00", "end": "23:45"} for d in range(7)]
            answer = http.put(
                f"/api/v1/providers/{provider}/hours", headers=_auth(owner), json={"days": hours}
            )
            if answer.status_code != 200:
                raise OperationFailedError(f"setting the drill's hours failed: {answer.text}")
            tokens = [_account(http, "client") for _ in range(self.clients)]
        day = (datetime.now(UTC) + timedelta(days=2)).replace(
            hour=0, minute=0, second=0, microsecond=0
        )
        self.world = BookingWorld(provider, service, tokens, day)
        return self.world

    # ---- running -----------------------------------------------------------------------

    def start(self) -> None:
        """Start one thread per client."""
        if self.world is None:
            self.prepare()
        for index in range(self.clients):
            thread = threading.Thread(target=self._client, args=(index,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=REQUEST_TIMEOUT_SECONDS + 5)

    def _client(self, index: int) -> None:
        assert self.world is not None
        token = self.world.client_tokens[index]
        with httpx.Client(base_url=self.api_url, timeout=REQUEST_TIMEOUT_SECONDS) as http:
            while not self._stop.is_set():
                number = next(self._slots)
                # Every tenth slot twice: the second client races the first for it.
                slot_number = number - 1 if number % 10 == 1 else number
                day, index = divmod(slot_number, SLOTS_PER_DAY)
                slot = self.world.first_slot + timedelta(days=day, minutes=SLOT_MINUTES * index)
                self._book(http, token, slot)

    def _book(self, http: httpx.Client, token: str, slot: datetime) -> None:
        assert self.world is not None
        started = time.monotonic()
        status, booking_id, error = 0, None, None
        try:
            answer = http.post(
                "/api/v1/bookings",
                headers={"Authorization": f"Bearer {token}", "Idempotency-Key": str(uuid.uuid4())},
                json={
                    "provider_id": self.world.provider_id,
                    "service_id": self.world.service_id,
                    "starts_at": slot.isoformat(),
                },
            )
            status = answer.status_code
            if status == 201:
                booking_id = str(answer.json()["id"])
            elif status != 409:
                error = answer.text[:200]
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
            time.sleep(0.05)  # no answer at all: do not spin
        attempt = Attempt(started, time.monotonic(), status, booking_id, slot, error)
        with self._lock:
            self.attempts.append(attempt)
        if status >= 500 or status == 0:
            time.sleep(0.05)

    # ---- reading the outcome -----------------------------------------------------------

    def snapshot(self) -> list[Attempt]:
        with self._lock:
            return list(self.attempts)

    def acknowledged(self) -> set[str]:
        """Ids of bookings the API answered 201 for: committed, as far as a client knows."""
        return {a.booking_id for a in self.snapshot() if a.booking_id is not None}


def first_success_after(attempts: list[Attempt], moment: float) -> Attempt | None:
    """The first attempt started at or after ``moment`` that booked (answer 201)."""
    started_after = [a for a in attempts if a.started >= moment and a.status == 201]
    return min(started_after, key=lambda a: a.finished, default=None)


def server_errors(attempts: list[Attempt], *, in_flight_at: list[float]) -> list[Attempt]:
    """Answers of 500 (an application error) not in flight at one of the given moments.

    A request in flight when its host or database is killed may fail however the proxy
    reports it; a 500 anywhere else is a bug. 502/503/504 come from the proxy or from
    the app's own overload answers and are counted apart.
    """
    return [
        a
        for a in attempts
        if a.status == 500 and not any(a.started <= t <= a.finished for t in in_flight_at)
    ]


def _account(http: httpx.Client, role: str) -> str:
    email = f"drill-{role}-{uuid.uuid4().hex[:10]}@example.com"
    registered = http.post(
        "/api/v1/auth/register",
        json={"email": email, "password": PASSWORD, "full_name": f"Drill {role}", "role": role},
    )
    if registered.status_code != 202:  # accepted alike for new and taken addresses
        raise OperationFailedError(f"registering a drill {role} failed: {registered.text}")
    login = http.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    if login.status_code != 200:
        raise OperationFailedError(f"logging in the drill {role} failed: {login.text}")
    return str(login.json()["access_token"])


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _created(answer: httpx.Response) -> str:
    if answer.status_code != 201:
        raise OperationFailedError(
            f"{answer.request.method} {answer.request.url.path} answered "
            f"{answer.status_code}: {answer.text[:300]}"
        )
    return str(answer.json()["id"])
