"""The system a booking benchmark runs against, on loopback and in a scratch directory.

Its own PostgreSQL cluster (not durable: benchmarks measure CPU, not the disk) and Redis
(chairside.runtime), migrated, with the app served by ``uvicorn --factory
chairside.api.factory:create_app_from_env``; :func:`seed` fills it through the API.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
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

PASSWORD = "bench password 1"


@dataclass(frozen=True)
class Stack:
    """A running benchmark system."""

    base: Path  # scratch directory, removed at the end
    cluster: PostgresCluster
    redis: RedisServer | None
    server: subprocess.Popen[bytes]
    api: str  # http://127.0.0.1:PORT


@contextmanager
def running_stack(
    *,
    workers: int,
    launcher: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    start_seconds: float = 60,
) -> Iterator[Stack]:
    """PostgreSQL, Redis and the API with ``workers`` uvicorn workers; all gone on exit.

    ``launcher`` goes before the server's Python (``valgrind --tool=callgrind``, say);
    ``env`` adds to or overrides the server's environment.
    """
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
        server_env = {
            **os.environ,
            "DATABASE_URL": url,
            "CHAIRSIDE_HOME": str(base / "home"),
            "CHAIRSIDE_JWT_SECRET": secrets.token_urlsafe(48),
            "CHAIRSIDE_LOG_LEVEL": "WARNING",
            "CHAIRSIDE_WORKERS": str(workers),
            "CHAIRSIDE_RATE_LIMIT_BOOKINGS": "1000000",
            "CHAIRSIDE_RATE_LIMIT_REGISTER": "1000000",
            "CHAIRSIDE_RATE_LIMIT_LOGIN": "1000000",
            "CHAIRSIDE_SIMULATED_WEBHOOK_DELIVERY": "manual",
            # One reminder channel: every booking writes its two reminders (24 h, 2 h), as
            # booking_transaction.sql does. Nothing is delivered during the bench.
            "CHAIRSIDE_REMINDER_CHANNELS": "email=mailtos://bench:bench@localhost?to={email}",
            **({"REDIS_URL": redis.url} if redis else {}),
            **(env or {}),
        }
        server = subprocess.Popen(
            [
                *launcher,
                sys.executable,
                "-m",
                "uvicorn",
                "--factory",
                "chairside.api.factory:create_app_from_env",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                str(workers),
                "--log-level",
                "warning",
                "--no-access-log",
            ],
            env=server_env,
            cwd=base,  # what the server writes by relative path stays in the scratch
        )
        api = f"http://127.0.0.1:{port}"
        wait_up(api, seconds=start_seconds)
        yield Stack(base=base, cluster=cluster, redis=redis, server=server, api=api)
    finally:
        if server is not None:
            server.terminate()
            try:
                server.wait(timeout=60)
            except subprocess.TimeoutExpired:
                server.kill()
        if redis:
            redis.stop()
        if cluster.is_running():
            cluster.stop(mode="fast")
        shutil.rmtree(base, ignore_errors=True)


def wait_up(api: str, *, seconds: float = 60) -> None:
    """Wait until ``GET /health`` answers 200."""
    deadline = time.monotonic() + seconds
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
    """What seed() made: a client token and a provider of its own per client, and one
    realistic provider (09:00-18:00 with lunch, some bookings) for availability."""

    tokens: list[str]
    providers: list[str]
    service_id: str
    avail_provider: str
    avail_service: str
    first_day: datetime


def seed(api: str, clients: int, conninfo: str) -> World:
    """A shop through the API, and the bench_clients table pgbench's script reads."""
    http = httpx.Client(base_url=api, timeout=30)

    def account(role: str) -> tuple[str, str]:
        email = f"{role}-{uuid.uuid4().hex[:10]}@example.com"
        body = {"email": email, "password": PASSWORD, "full_name": role, "role": role}
        created = http.post("/api/v1/auth/register", json=body)
        created.raise_for_status()
        login = http.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
        return login.json()["user"]["id"], login.json()["access_token"]

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
