"""Booking-side load benchmark: the HTTP API under concurrent clients, against pgbench.

Starts its own PostgreSQL cluster and Redis (chairside.runtime, scratch directory),
migrates, serves the app with ``uvicorn --workers N --factory
chairside.api.factory:create_app_from_env`` on loopback, seeds a shop through the API,
then for each concurrency level measures:

- booking creation (``POST /api/v1/bookings`` with an Idempotency-Key, distinct slots
  per client so every request does the full work and succeeds);
- availability over 14 days for one provider with realistic hours and some bookings;

and finally runs ``pgbench`` with the same booking SQL transaction (the statements the
creating request issues, see ``booking_transaction.sql``) on the same database at the
same client counts. Figures are printed as ratios against that pgbench anchor, measured
in the same run.

    .venv/bin/python -m bench.booking.bench_booking --workers 2 --clients 10,50 --seconds 10
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import psycopg

from chairside.ops.database import migrations
from chairside.runtime.binaries import find_redis_server
from chairside.runtime.ports import free_port
from chairside.runtime.postgres import PostgresCluster
from chairside.runtime.redis import RedisServer

HERE = Path(__file__).resolve().parent
VENV_BIN = Path(sys.executable).parent
PASSWORD = "bench password 1"
SLOTS_PER_DAY = 287  # 5-minute services, 00:00-23:55


@dataclass
class Figures:
    name: str
    clients: int
    requests: int
    errors: int
    seconds: float
    latencies_ms: list[float]

    @property
    def throughput(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def pct(self, q: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--clients", default="10,50")
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    levels = [int(c) for c in args.clients.split(",")]
    base = Path(tempfile.mkdtemp(prefix="chairside-bench-"))
    base.chmod(0o755)
    cluster = PostgresCluster(
        data_dir=base / "pg" / "data",
        port=free_port(),
        password=secrets.token_urlsafe(12),
        log_file=base / "pg" / "log" / "postgresql.log",
        socket_dir=base / "pg" / "run",
    )
    redis_binary = find_redis_server("redis-server")
    redis = (
        RedisServer(
            binary=redis_binary,
            port=free_port(),
            run_dir=base / "redis",
            log_file=base / "redis.log",
        )
        if redis_binary
        else None
    )
    server: subprocess.Popen[bytes] | None = None
    try:
        (base / "pg").mkdir(parents=True)
        cluster.init(wal_segsize_mb=16, durable=False)
        cluster.configure({"max_connections": "300", "shared_buffers": "128MB"})
        cluster.start()
        cluster.create_database("bench")
        url = cluster.url("bench")
        migrations.upgrade(url=url)
        if redis:
            redis.start()
        port = free_port()
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "CHAIRSIDE_HOME": str(base / "home"),
            "CHAIRSIDE_JWT_SECRET": secrets.token_urlsafe(48),
            "CHAIRSIDE_LOG_LEVEL": "WARNING",
            "CHAIRSIDE_RATE_LIMIT_BOOKINGS": "1000000",
            "CHAIRSIDE_RATE_LIMIT_REGISTER": "1000000",
            "CHAIRSIDE_RATE_LIMIT_LOGIN": "1000000",
            "CHAIRSIDE_SIMULATED_WEBHOOK_DELIVERY": "manual",
        }
        if redis:
            env["REDIS_URL"] = redis.url
        server = subprocess.Popen(
            [
                str(VENV_BIN / "uvicorn"),
                "--factory",
                "chairside.api.factory:create_app_from_env",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                str(args.workers),
                "--log-level",
                "warning",
                "--no-access-log",
            ],
            env=env,
        )
        api = f"http://127.0.0.1:{port}"
        _wait_up(api)
        world = _seed(api, max(levels), cluster.conninfo("bench"))
        results: list[tuple[Figures, Figures, float]] = []
        for clients in levels:
            booking = asyncio.run(_load_bookings(api, world, clients, args.seconds))
            availability = asyncio.run(_load_availability(api, world, clients, args.seconds))
            tps = _pgbench(cluster, clients, args.seconds)
            results.append((booking, availability, tps))
        _report(results, args)
    finally:
        if server is not None:
            server.terminate()
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
        if redis:
            redis.stop()
        if cluster.is_running():
            cluster.stop(mode="fast")
        shutil.rmtree(base, ignore_errors=True)


def _wait_up(api: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{api}/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit("the API did not come up")


@dataclass
class World:
    tokens: list[str]
    providers: list[str]
    service_id: str
    avail_provider: str
    avail_service: str
    first_day: datetime


def _seed(api: str, clients: int, conninfo: str) -> World:
    http = httpx.Client(base_url=api, timeout=30)

    def account(role: str) -> tuple[str, str]:
        email = f"{role}-{uuid.uuid4().hex[:10]}@example.com"
        body = {"email": email, "password": PASSWORD, "full_name": role, "role": role}
        created = http.post("/api/v1/auth/register", json=body)
        created.raise_for_status()
        login = http.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
        return created.json()["id"], login.json()["access_token"]

    _, owner = account("owner")
    auth = {"Authorization": f"Bearer {owner}"}
    shop = http.post(
        "/api/v1/shops",
        headers=auth,
        json={
            "name": "Bench",
            "latitude": 52.5,
            "longitude": 13.4,
            "timezone": "UTC",
            "currency": "EUR",
            "min_notice_minutes": 0,
            "slot_step_minutes": 5,
        },
    ).json()
    quick = http.post(
        f"/api/v1/shops/{shop['id']}/services",
        headers=auth,
        json={"name": "Quick trim", "duration_minutes": 5, "price_minor": 500},
    ).json()
    cut = http.post(
        f"/api/v1/shops/{shop['id']}/services",
        headers=auth,
        json={
            "name": "Haircut",
            "duration_minutes": 30,
            "price_minor": 2800,
            "buffer_after_minutes": 5,
        },
    ).json()
    all_day = [{"weekday": d, "start": "00:00", "end": "23:55"} for d in range(7)]
    providers = []
    for index in range(clients):
        provider = http.post(
            f"/api/v1/shops/{shop['id']}/providers",
            headers=auth,
            json={"name": f"P{index}", "service_ids": [quick["id"]]},
        ).json()
        http.put(f"/api/v1/providers/{provider['id']}/hours", headers=auth, json={"days": all_day})
        providers.append(provider["id"])
    # A realistic provider for availability: 09:00-18:00 with lunch, some bookings.
    avail = http.post(
        f"/api/v1/shops/{shop['id']}/providers",
        headers=auth,
        json={"name": "Avail", "service_ids": [cut["id"]]},
    ).json()
    week = [
        {
            "weekday": d,
            "start": "09:00",
            "end": "18:00",
            "breaks": [{"start": "13:00", "end": "13:30"}],
        }
        for d in range(6)
    ]
    http.put(f"/api/v1/providers/{avail['id']}/hours", headers=auth, json={"days": week})
    tokens = [account("client")[1] for _ in range(clients)]
    first_day = (datetime.now(UTC) + timedelta(days=1)).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    for k in range(20):
        day = first_day + timedelta(days=k % 12)
        if day.weekday() == 6:
            continue
        http.post(
            "/api/v1/bookings",
            headers={"Authorization": f"Bearer {tokens[0]}"},
            json={
                "provider_id": avail["id"],
                "service_id": cut["id"],
                "starts_at": (day + timedelta(hours=9 + (k % 8))).isoformat(),
            },
        )
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("CREATE SEQUENCE IF NOT EXISTS bench_slots")
        conn.execute(
            "CREATE TABLE bench_clients (n int PRIMARY KEY, provider_id uuid, user_id uuid, "
            "service_id uuid, shop_id uuid)"
        )
        users = [
            r[0]
            for r in conn.execute("SELECT id FROM users WHERE role = 'client' ORDER BY created_at")
        ]
        for n, (provider, user) in enumerate(zip(providers, users, strict=False)):
            conn.execute(
                "INSERT INTO bench_clients VALUES (%s, %s, %s, %s, %s)",
                (n, provider, user, quick["id"], shop["id"]),
            )
    return World(tokens, providers, quick["id"], avail["id"], cut["id"], first_day)


# Every benchmark phase books further out, so phases never collide.
_slot_base = [0]


async def _load_bookings(api: str, world: World, clients: int, seconds: float) -> Figures:
    latencies: list[float] = []
    errors = 0
    start_slot = _slot_base[0]
    counters = [start_slot] * clients
    deadline = time.monotonic() + seconds

    async def worker(index: int) -> None:
        nonlocal errors
        headers = {"Authorization": f"Bearer {world.tokens[index]}"}
        async with httpx.AsyncClient(base_url=api, timeout=30) as http:
            while time.monotonic() < deadline:
                k = counters[index]
                counters[index] += 1
                start = world.first_day + timedelta(
                    days=k // SLOTS_PER_DAY, minutes=5 * (k % SLOTS_PER_DAY)
                )
                t0 = time.perf_counter()
                response = await http.post(
                    "/api/v1/bookings",
                    headers={**headers, "Idempotency-Key": uuid.uuid4().hex},
                    json={
                        "provider_id": world.providers[index],
                        "service_id": world.service_id,
                        "starts_at": start.isoformat(),
                    },
                )
                latencies.append((time.perf_counter() - t0) * 1000)
                if response.status_code != 201:
                    errors += 1

    t0 = time.perf_counter()
    await asyncio.gather(*(worker(i) for i in range(clients)))
    elapsed = time.perf_counter() - t0
    _slot_base[0] = max(counters) + 1
    return Figures("booking create", clients, len(latencies), errors, elapsed, latencies)


async def _load_availability(api: str, world: World, clients: int, seconds: float) -> Figures:
    latencies: list[float] = []
    errors = 0
    deadline = time.monotonic() + seconds
    first = world.first_day.date()
    params = {
        "service_id": world.avail_service,
        "from": first.isoformat(),
        "to": (first + timedelta(days=13)).isoformat(),
    }

    async def worker() -> None:
        nonlocal errors
        async with httpx.AsyncClient(base_url=api, timeout=30) as http:
            while time.monotonic() < deadline:
                t0 = time.perf_counter()
                response = await http.get(
                    f"/api/v1/providers/{world.avail_provider}/availability", params=params
                )
                latencies.append((time.perf_counter() - t0) * 1000)
                if response.status_code != 200:
                    errors += 1

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(clients)))
    elapsed = time.perf_counter() - t0
    return Figures("availability 14d", clients, len(latencies), errors, elapsed, latencies)


def _pgbench(cluster: PostgresCluster, clients: int, seconds: float) -> float:
    script = HERE / "booking_transaction.sql"
    result = subprocess.run(
        [
            cluster.binary("pgbench"),
            "-n",
            "-M",
            "prepared",
            "-h",
            "127.0.0.1",
            "-p",
            str(cluster.port),
            "-U",
            "postgres",
            "-c",
            str(clients),
            "-j",
            "2",
            "-T",
            str(max(1, int(seconds))),
            "-f",
            str(script),
            "bench",
        ],
        env={**os.environ, "PGPASSWORD": cluster.password},
        capture_output=True,
        text=True,
        check=False,
    )
    match = re.search(r"tps = ([0-9.]+)", result.stdout)
    if result.returncode != 0 or not match:
        raise SystemExit(f"pgbench failed:\n{result.stdout}\n{result.stderr}")
    return float(match.group(1))


def _report(results: list[tuple[Figures, Figures, float]], args: argparse.Namespace) -> None:
    print(
        f"\nChairside booking benchmark: {args.workers} API workers, {args.seconds:g} s per phase, "
        f"{os.cpu_count()} CPUs (figures are ratios against pgbench in this same run)\n"
    )
    header = (
        f"{'phase':<18}{'clients':>8}{'req/s':>9}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}"
        f"{'errors':>8}{'vs pgbench':>12}"
    )
    print(header)
    print("-" * len(header))
    rows = []
    for booking, availability, tps in results:
        for fig in (booking, availability):
            ratio = fig.throughput / tps if tps else float("nan")
            print(
                f"{fig.name:<18}{fig.clients:>8}{fig.throughput:>9.1f}{fig.pct(50):>9.1f}"
                f"{fig.pct(95):>9.1f}{fig.pct(99):>9.1f}{fig.errors:>8}{ratio:>11.2f}x"
            )
            rows.append(
                {
                    "phase": fig.name,
                    "clients": fig.clients,
                    "throughput": round(fig.throughput, 1),
                    "p50_ms": round(fig.pct(50), 2),
                    "p95_ms": round(fig.pct(95), 2),
                    "p99_ms": round(fig.pct(99), 2),
                    "errors": fig.errors,
                    "ratio_vs_pgbench": round(ratio, 3),
                }
            )
        print(
            f"{'pgbench (anchor)':<18}{booking.clients:>8}{tps:>9.1f}"
            f"{'':>9}{'':>9}{'':>9}{'':>8}{'1.00x':>12}"
        )
        rows.append({"phase": "pgbench", "clients": booking.clients, "throughput": round(tps, 1)})
    print(
        "\nGoals: booking p95 < 50 ms at 50 clients and >= 0.3x pgbench; availability p95 < 25 ms."
    )
    print(json.dumps({"results": rows}, indent=None))


if __name__ == "__main__":
    main()
