"""Bursts after idle and an open-loop spike against the real API: 500s, 503s and p99.

Starts its own PostgreSQL, Redis and ``uvicorn --workers N`` (bench/booking/stack.py),
seeds a shop, then for each level waits ``--idle`` seconds (pooled connections go idle,
as after a quiet spell) and fires that many requests at once, a quarter each of login,
``GET /api/v1/me``, availability and booking creation (each booking a slot of its own).
Then open-loop spikes: requests arrive at each of ``--rates`` per second for ``--spike-seconds``
whether or not earlier ones were answered, as users arrive.

For every run it prints how many answers were 2xx, 4xx, 500 and 503, whether every 503
carried Retry-After, the slowest 503, and p50/p99 of the answered (non-503) requests.
Goal: 0 answers of 500 at every level, 503s only past the configured capacity
(``CHAIRSIDE_DB_POOL_SIZE`` in flight plus ``CHAIRSIDE_ADMISSION_QUEUE`` waiting per
worker, none waiting past ``CHAIRSIDE_ADMISSION_WAIT_SECONDS``), and each one fast.

The client is Python (httpx, asyncio): bursts are a few hundred requests, so its CPU
matters little; the sustained figures come from bench/booking (wrk, C).

    flock /tmp/chairside-bench.lock .venv/bin/python -m bench.api.bench_burst --workers 2
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
import psycopg

from bench.booking.stack import PASSWORD, World, running_stack, seed

KINDS = ("login", "me", "availability", "booking")


@dataclass
class Outcome:
    """One level's answers."""

    name: str
    statuses: Counter[int] = field(default_factory=Counter)
    answered_ms: list[float] = field(default_factory=list)
    refused_ms: list[float] = field(default_factory=list)
    refused_without_retry_after: int = 0
    failures: Counter[str] = field(default_factory=Counter)  # socket errors, timeouts
    seconds: float = 0.0

    def row(self) -> dict[str, Any]:
        answered = sorted(self.answered_ms)
        return {
            "run": self.name,
            "requests": sum(self.statuses.values()) + sum(self.failures.values()),
            "2xx": sum(n for s, n in self.statuses.items() if 200 <= s < 300),
            "4xx": sum(n for s, n in self.statuses.items() if 400 <= s < 500),
            "500": self.statuses.get(500, 0),
            "503": self.statuses.get(503, 0),
            "other": sum(n for s, n in self.statuses.items() if s >= 500 and s not in (500, 503)),
            "client_errors": dict(self.failures),
            "503_without_retry_after": self.refused_without_retry_after,
            "slowest_503_ms": round(max(self.refused_ms), 1) if self.refused_ms else None,
            "p50_ms": _pct(answered, 50),
            "p99_ms": _pct(answered, 99),
            "max_ms": round(answered[-1], 1) if answered else None,
            "seconds": round(self.seconds, 2),
        }


def _pct(ordered: list[float], q: float) -> float | None:
    if not ordered:
        return None
    return round(ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))], 1)


class Mix:
    """Builds the requests of the mix: a fresh booking slot each time."""

    def __init__(self, world: World, emails: list[str]) -> None:
        self.world = world
        self.emails = emails
        self.counter = itertools.count()
        first = world.first_day.date()
        self.availability_params = {
            "service_id": world.avail_service,
            "from": first.isoformat(),
            "to": (first + timedelta(days=13)).isoformat(),
        }

    def request(self, kind: str) -> tuple[str, str, dict[str, Any]]:
        n = next(self.counter)
        token = self.world.tokens[n % len(self.world.tokens)]
        auth = {"Authorization": f"Bearer {token}"}
        if kind == "login":
            email = self.emails[n % len(self.emails)]
            return "POST", "/api/v1/auth/login", {"json": {"email": email, "password": PASSWORD}}
        if kind == "me":
            return "GET", "/api/v1/me", {"headers": auth}
        if kind == "availability":
            path = f"/api/v1/providers/{self.world.avail_provider}/availability"
            return "GET", path, {"params": self.availability_params}
        providers = self.world.providers
        slot = 2000 + n  # far from what the seed booked; one slot per request
        starts = self.world.first_day + timedelta(days=20 + slot // 280, minutes=5 * (slot % 280))
        body = {
            "provider_id": providers[n % len(providers)],
            "service_id": self.world.service_id,
            "starts_at": starts.isoformat(),
        }
        return "POST", "/api/v1/bookings", {"json": body, "headers": auth}


async def _one(client: httpx.AsyncClient, mix: Mix, kind: str, outcome: Outcome) -> None:
    method, path, kwargs = mix.request(kind)
    started = time.perf_counter()
    try:
        response = await client.request(method, path, **kwargs)
    except httpx.HTTPError as exc:
        outcome.failures[type(exc).__name__] += 1
        return
    elapsed = (time.perf_counter() - started) * 1000
    outcome.statuses[response.status_code] += 1
    if response.status_code == 503:
        outcome.refused_ms.append(elapsed)
        if "retry-after" not in response.headers:
            outcome.refused_without_retry_after += 1
    else:
        outcome.answered_ms.append(elapsed)


def _client(api: str, connections: int) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    return httpx.AsyncClient(base_url=api, timeout=60, limits=limits)


async def burst(api: str, mix: Mix, size: int) -> Outcome:
    """``size`` requests at once, the mix in equal parts."""
    outcome = Outcome(f"burst {size}")
    async with _client(api, size) as client:
        started = time.perf_counter()
        await asyncio.gather(*(_one(client, mix, KINDS[i % 4], outcome) for i in range(size)))
        outcome.seconds = time.perf_counter() - started
    return outcome


async def spike(api: str, mix: Mix, rate: float, seconds: float) -> Outcome:
    """Open loop: a request every 1/rate s for ``seconds``, answered or not."""
    outcome = Outcome(f"spike {rate:g}/s x {seconds:g}s")
    total = int(rate * seconds)
    async with _client(api, 1000) as client:
        started = time.perf_counter()
        tasks = []
        for i in range(total):
            delay = started + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(_one(client, mix, KINDS[i % 4], outcome)))
        await asyncio.gather(*tasks)
        outcome.seconds = time.perf_counter() - started
    return outcome


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--levels", default="50,100,200")
    parser.add_argument("--idle", type=float, default=5.0, help="seconds idle before a burst")
    parser.add_argument(
        "--rates", default="50,200", help="spikes: requests per second, one run each"
    )
    parser.add_argument("--spike-seconds", type=float, default=5.0)
    parser.add_argument("--accounts", type=int, default=50)
    args = parser.parse_args()
    levels = [int(x) for x in args.levels.split(",") if x]
    env = {"CHAIRSIDE_LOG_LEVEL": "ERROR"}
    with running_stack(workers=args.workers, env=env) as stack:
        world = seed(stack.api, args.accounts, stack.cluster.conninfo("bench"))
        with psycopg.connect(stack.cluster.conninfo("bench")) as conn:
            emails = [r[0] for r in conn.execute("SELECT email FROM users WHERE role = 'client'")]
        mix = Mix(world, emails)
        rows = []
        for size in levels:
            time.sleep(args.idle)
            rows.append(asyncio.run(burst(stack.api, mix, size)).row())
        for rate in (float(x) for x in args.rates.split(",") if x):
            time.sleep(args.idle)
            rows.append(asyncio.run(spike(stack.api, mix, rate, args.spike_seconds)).row())
    _report(rows, args)


def _report(rows: list[dict[str, Any]], args: argparse.Namespace) -> None:
    print(
        f"\nChairside bursts: {args.workers} API workers, {os.cpu_count()} CPUs, "
        f"{args.idle:g} s idle before each run; mix: login, /me, availability, booking"
    )
    capacity = {
        name: os.environ.get(f"CHAIRSIDE_{name.upper()}", "default")
        for name in ("db_pool_size", "admission_queue", "admission_wait_seconds", "api_threads")
    }
    print(f"capacity per worker: {capacity}\n")
    header = (
        f"{'run':<22}{'req':>6}{'2xx':>6}{'4xx':>6}{'500':>6}{'503':>6}{'no RA':>6}"
        f"{'slow503':>9}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}{'secs':>7}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        print(
            f"{r['run']:<22}{r['requests']:>6}{r['2xx']:>6}{r['4xx']:>6}{r['500']:>6}"
            f"{r['503']:>6}{r['503_without_retry_after']:>6}{_cell(r['slowest_503_ms']):>9}"
            f"{_cell(r['p50_ms']):>9}{_cell(r['p99_ms']):>9}{_cell(r['max_ms']):>9}"
            f"{r['seconds']:>7}"
        )
        if r["client_errors"]:
            print(f"  client-side errors: {r['client_errors']}")
    print("\nGoal: 0 answers of 500; every 503 fast and with Retry-After.")
    print(json.dumps({"results": rows}))


def _cell(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


if __name__ == "__main__":
    main()
