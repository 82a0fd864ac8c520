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

The client is raw HTTP/1.1 on asyncio streams (bench/booking/open_loop.py), connections
opened before a burst starts, so that on a small machine the client costs the server
little; a spike's latencies count from when each request was due.

    flock /tmp/chairside-bench.lock .venv/bin/python -m bench.api.bench_burst --workers 2
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import time
import uuid
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import psycopg

from bench.booking.open_loop import (
    Connection,
    OpenLoopResult,
    booking_request,
    record,
    run_open_loop,
)
from bench.booking.stack import PASSWORD, World, running_stack, seed

KINDS = ("login", "me", "availability", "booking")


def row(name: str, run: OpenLoopResult) -> dict[str, Any]:
    """One table row: answers by class, 503s, and percentiles of the answered requests."""
    answered = sorted(
        ms for status, times in run.by_status_ms.items() if status != 503 for ms in times
    )
    refused = run.by_status_ms.get(503, [])
    statuses = run.statuses
    return {
        "run": name,
        "requests": run.sent,
        "2xx": sum(n for s, n in statuses.items() if 200 <= s < 300),
        "4xx": sum(n for s, n in statuses.items() if 400 <= s < 500),
        "500": statuses.get(500, 0),
        "503": statuses.get(503, 0),
        "other": sum(n for s, n in statuses.items() if s >= 500 and s not in (500, 503)),
        "client_errors": run.failures,
        "503_without_retry_after": run.without_retry_after,
        "slowest_503_ms": round(max(refused), 1) if refused else None,
        "p50_ms": _pct(answered, 50),
        "p99_ms": _pct(answered, 99),
        "max_ms": round(answered[-1], 1) if answered else None,
        "seconds": round(run.seconds, 2),
    }


def _pct(ordered: list[float], q: float) -> float | None:
    if not ordered:
        return None
    return round(ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))], 1)


class Mix:
    """Builds the raw requests of the mix: a fresh booking slot each time."""

    def __init__(self, host: str, world: World, emails: list[str]) -> None:
        self.host = host
        self.world = world
        self.emails = emails
        self.counter = itertools.count()
        first = world.first_day.date()
        self.availability_query = urlencode(
            {
                "service_id": world.avail_service,
                "from": first.isoformat(),
                "to": (first + timedelta(days=13)).isoformat(),
            }
        )

    def request(self, kind: str) -> bytes:
        n = next(self.counter)
        token = self.world.tokens[n % len(self.world.tokens)]
        if kind == "login":
            body = json.dumps({"email": self.emails[n % len(self.emails)], "password": PASSWORD})
            return self._raw("POST", "/api/v1/auth/login", body=body)
        if kind == "me":
            return self._raw("GET", "/api/v1/me", token=token)
        if kind == "availability":
            path = f"/api/v1/providers/{self.world.avail_provider}/availability"
            return self._raw("GET", f"{path}?{self.availability_query}")
        providers = self.world.providers
        slot = 2000 + n  # far from what the seed booked; one slot per request
        starts = self.world.first_day + timedelta(days=20 + slot // 280, minutes=5 * (slot % 280))
        return booking_request(
            self.host,
            token=token,
            provider_id=providers[n % len(providers)],
            service_id=self.world.service_id,
            starts_at=starts.isoformat(),
            key=uuid.uuid4().hex,
        )

    def _raw(self, method: str, target: str, *, body: str = "", token: str = "") -> bytes:
        lines = [f"{method} {target} HTTP/1.1", f"Host: {self.host}"]
        if token:
            lines.append(f"Authorization: Bearer {token}")
        if body:
            lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
        return ("\r\n".join(lines) + "\r\n\r\n" + body).encode()


async def burst(host: str, port: int, mix: Mix, size: int) -> OpenLoopResult:
    """``size`` requests at once on ``size`` open connections, the mix in equal parts."""
    result = OpenLoopResult(rate=0, sent=size)
    connections = [await Connection.open(host, port) for _ in range(size)]
    requests = [mix.request(KINDS[i % 4]) for i in range(size)]

    async def one(conn: Connection, request: bytes) -> None:
        started = time.perf_counter()
        try:
            status, retry_after = await conn.exchange(request)
        except (OSError, asyncio.IncompleteReadError, ValueError):
            result.failures += 1
            return
        record(result, status, retry_after, (time.perf_counter() - started) * 1000)

    started = time.perf_counter()
    await asyncio.gather(*(one(c, r) for c, r in zip(connections, requests, strict=True)))
    result.seconds = time.perf_counter() - started
    for conn in connections:
        conn.close()
    return result


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
        host_port = stack.api.removeprefix("http://")
        host, port = host_port.split(":")
        mix = Mix(host_port, world, emails)
        rows = []
        for size in levels:
            time.sleep(args.idle)
            rows.append(row(f"burst {size}", asyncio.run(burst(host, int(port), mix, size))))
        for rate in (float(x) for x in args.rates.split(",") if x):
            time.sleep(args.idle)

            def build(i: int) -> bytes:
                return mix.request(KINDS[i % 4])

            run = asyncio.run(
                run_open_loop(host, int(port), build, rate=rate, seconds=args.spike_seconds)
            )
            rows.append(row(f"spike {rate:g}/s x {args.spike_seconds:g}s", run))
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
            print(f"  connections that failed: {r['client_errors']}")
    print("\nGoal: 0 answers of 500; every 503 fast and with Retry-After.")
    print(json.dumps({"results": rows}))


def _cell(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


if __name__ == "__main__":
    main()
