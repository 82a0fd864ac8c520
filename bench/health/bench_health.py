"""Benchmark: ``health`` p95 (goal < 200 ms) and ``smoke`` duration (goal < 3 s) on loopback.

Starts a throwaway PostgreSQL cluster and Redis (through chairside's runtime, as the
tests do), serves the app with uvicorn on a free loopback port, then measures:

- anchor A: a bare ``SELECT 1`` over a fresh psycopg connection (what any health check
  must at least do);
- ``GET /health/detailed`` (fresh component checks inside the app) and the
  ``chairside health health`` component checks run from outside (``component_checks``);
- anchor B: ``GET /health`` (one loopback HTTP round trip, no I/O);
- ``chairside health smoke`` (``run_smoke``: 12+ API calls, two real argon2 password
  hashes and logins, clean-up), with production password-hash settings.

Each figure is printed with its ratio to the anchor of the same run. Run from the
repository root:

    .venv/bin/python -m bench.health.bench_health --health-runs 50 --smoke-runs 5
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import psycopg
from tests.ops.health.live import serve
from tests.support.servers import ClusterFactory, redis_server, remove_tree, scratch_dir

from chairside.api.app import create_app
from chairside.config import load_settings
from chairside.ops.database import migrations
from chairside.ops.health.service import component_checks
from chairside.ops.health.smoke import run_smoke


def _times(runs: int, action: Callable[[], object]) -> list[float]:
    out = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        out.append(time.perf_counter() - started)
    return out


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def _line(label: str, seconds: float, anchor: float, anchor_name: str) -> None:
    print(f"{label:<44} {seconds * 1000:9.1f} ms   {seconds / anchor:7.1f}x {anchor_name}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--health-runs", type=int, default=50)
    parser.add_argument("--smoke-runs", type=int, default=5)
    args = parser.parse_args()

    base = scratch_dir("chairside-bench-")
    factory = ClusterFactory(base / "clusters")
    try:
        cluster = factory.make("bench")
        cluster.create_database("bench")
        url = cluster.url("bench")
        migrations.upgrade(url=url)
        with redis_server(base) as redis:
            settings = load_settings(
                env="test",
                home=Path(base) / "home",
                database_url=url,
                redis_url=redis.url if redis else None,
                log_level="WARNING",
                health_api_url=None,
                # Back-to-back smoke runs log in twice each from one address; production's
                # per-minute login limit would refuse the later runs of the benchmark.
                rate_limit_login=10_000,
                rate_limit_register=10_000,
            )
            conninfo = cluster.conninfo("bench")

            def select_one() -> None:
                with psycopg.connect(conninfo) as conn:
                    conn.execute("SELECT 1")

            with serve(create_app(settings)) as api:
                settings = settings.model_copy(update={"health_api_url": api})
                client = httpx.Client(base_url=api)
                _times(5, lambda: client.get("/health/detailed"))  # warm the pools
                anchor_db = _p95(_times(args.health_runs, select_one))
                anchor_http = statistics.median(
                    _times(args.health_runs, lambda: client.get("/health"))
                )
                detailed = _times(args.health_runs, lambda: client.get("/health/detailed"))
                outside = _times(
                    max(5, args.health_runs // 5),
                    lambda: component_checks(settings, api_url=api),
                )
                smokes = []
                for _ in range(args.smoke_runs):
                    run = run_smoke(settings, base_url=api)
                    assert run.ok, [s.summary for s in run.steps if s.status.value != "ok"]
                    smokes.append(run.duration_seconds)
                client.close()
        print(
            f"chairside health bench: {args.health_runs} health runs, "
            f"{args.smoke_runs} smoke runs, loopback"
        )
        _line("anchor A: SELECT 1, new connection (p95)", anchor_db, anchor_db, "A")
        _line("GET /health/detailed (p95)", _p95(detailed), anchor_db, "A")
        _line("chairside health health, from outside (p95)", _p95(outside), anchor_db, "A")
        _line("anchor B: GET /health (median)", anchor_http, anchor_http, "B")
        _line("chairside health smoke (median)", statistics.median(smokes), anchor_http, "B")
        _line("chairside health smoke (max)", max(smokes), anchor_http, "B")
    finally:
        factory.stop_all()
        remove_tree(base)


if __name__ == "__main__":
    main()
