"""Booking-side load benchmark: the HTTP API under concurrent clients, against pgbench.

Starts its own PostgreSQL cluster and Redis (chairside.runtime, scratch directory),
migrates, serves the app with ``uvicorn --workers N --factory
chairside.api.factory:create_app_from_env`` on loopback, seeds a shop through the API,
then for each concurrency level measures:

- booking creation (``POST /api/v1/bookings`` with an Idempotency-Key, distinct slots
  per client so every request does the full work and succeeds);
- availability over 14 days for one provider with realistic hours and some bookings;

and ``pgbench`` with the same booking SQL transaction (the statements the creating
request issues, see ``booking_transaction.sql``) on the same database at the same client
counts; finally, with the ``open`` phase, bookings arriving at a fixed rate (open loop,
``open_loop.py``; default half the best closed-loop booking rate of the run), since
closed-loop latency at N clients is only N / throughput. Figures are printed as ratios
against that pgbench anchor, measured in the same run, beside pgbench's own latency
percentiles (from its per-transaction log).

The HTTP load comes from ``wrk`` (C, one thread) running ``load.lua``, so the client
takes little of the CPU the server needs, as pgbench, also C, does. Needs `wrk`
(apt-get install wrk). Any response other than 201 (booking) or 200 (availability) is
an error, and the run exits 1 after printing the figures if there was one.

    .venv/bin/python -m bench.booking.bench_booking --workers 2 --clients 10,50 --seconds 10
    .venv/bin/python -m bench.booking.bench_booking --phases booking,pgbench --clients 50
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from bench.booking.open_loop import booking_request, run_open_loop
from bench.booking.stack import World, running_stack, seed
from bench.cpu import CpuMeter
from bench.wrk import require_wrk, run_wrk
from chairside.runtime.postgres import PostgresCluster

HERE = Path(__file__).resolve().parent
SLOTS_PER_DAY = 287  # 5-minute services, 00:00-23:55
LOAD_SCRIPT = HERE / "load.lua"
PHASES = ("booking", "availability", "pgbench", "open")


@dataclass(frozen=True)
class Figures:
    """One phase at one client count: throughput, latency percentiles, failed requests."""

    name: str
    clients: int
    throughput: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    errors: int
    requests: int = 0
    cpu_ms: dict[str, float] = field(default_factory=dict)  # CPU per request, by component


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--clients", default="10,50")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument(
        "--open-rate",
        type=float,
        default=None,
        help="open phase: bookings per second (default: half the best closed-loop rate)",
    )
    parser.add_argument(
        "--phases",
        default=",".join(PHASES),
        help=f"comma-separated, any of {', '.join(PHASES)} (ratios need pgbench)",
    )
    args = parser.parse_args()
    levels = [int(c) for c in args.clients.split(",")]
    phases = [p for p in args.phases.split(",") if p]
    unknown = sorted(set(phases) - set(PHASES))
    if unknown:
        parser.error(f"unknown phase {', '.join(unknown)}: choose from {', '.join(PHASES)}")
    require_wrk()
    with running_stack(workers=args.workers) as stack:
        world = seed(stack.api, max(levels), stack.cluster.conninfo("bench"))
        results: list[list[Figures]] = []
        next_slot = 0
        meter = CpuMeter(
            {
                "api": stack.server.pid,
                "postgres": stack.cluster.postmaster_pid(),
                "redis": stack.redis.pid() if stack.redis else None,
            }
        )
        for clients in levels:
            level: list[Figures] = []
            if "booking" in phases:
                meter.start()
                booking, next_slot = _load_bookings(
                    stack.api, world, clients, args.seconds, base_slot=next_slot, scratch=stack.base
                )
                level.append(_with_cpu(booking, meter))
            if "availability" in phases:
                meter.start()
                availability = _load_availability(stack.api, world, clients, args.seconds)
                level.append(_with_cpu(availability, meter))
            if "pgbench" in phases:
                meter.start()
                anchor = _pgbench(stack.cluster, clients, args.seconds, stack.base / "pgbench")
                level.append(_with_cpu(anchor, meter))
            results.append(level)
        if "open" in phases:
            best = max(
                (f.throughput for level in results for f in level if f.name == "booking create"),
                default=0.0,
            )
            rate = args.open_rate or best / 2
            if not rate:
                parser.error("the open phase needs the booking phase or --open-rate")
            meter.start()
            opened = _open_loop_bookings(stack.api, world, rate, args.seconds, base_slot=next_slot)
            results.append([_with_cpu(opened, meter)])
        errors = _report(results, args)
        if errors:
            raise SystemExit(f"{errors} requests failed (see the errors column): no valid figures")


def _load_bookings(
    api: str, world: World, clients: int, seconds: float, *, base_slot: int, scratch: Path
) -> tuple[Figures, int]:
    """Create bookings for ``seconds``, client i as provider i; return the next unused slot.

    Slots count from ``base_slot`` so that no phase asks for a slot an earlier one took.
    """
    pairs = scratch / f"pairs-{clients}.tsv"
    pairs.write_text(
        "".join(
            f"{t}\t{p}\n" for t, p in zip(world.tokens[:clients], world.providers, strict=False)
        )
    )
    threads = 1
    run = run_wrk(
        f"{api}/api/v1/bookings",
        script=LOAD_SCRIPT,
        connections=clients,
        seconds=seconds,
        threads=threads,
        script_args=[
            "booking",
            "201",
            str(pairs),
            world.service_id,
            str(int(world.first_day.timestamp())),
            str(SLOTS_PER_DAY),
            str(base_slot),
            str(threads),
            uuid.uuid4().hex,
        ],
    )
    return _wrk_figures("booking create", clients, run), run["last_slot"] + 1


def _open_loop_bookings(
    api: str, world: World, rate: float, seconds: float, *, base_slot: int
) -> Figures:
    """Bookings arriving at ``rate`` per second (open loop), each a slot of its own."""
    host_port = api.removeprefix("http://")
    host, port = host_port.split(":")
    first_epoch = int(world.first_day.timestamp())
    n = len(world.providers)
    tag = uuid.uuid4().hex

    def build(g: int) -> bytes:
        slot = base_slot + g // n
        day, index = divmod(slot, SLOTS_PER_DAY)
        starts = datetime.fromtimestamp(first_epoch + day * 86400 + index * 300, UTC)
        return booking_request(
            host_port,
            token=world.tokens[g % n],
            provider_id=world.providers[g % n],
            service_id=world.service_id,
            starts_at=starts.isoformat(),
            key=f"{tag}-{g}",
        )

    run = asyncio.run(run_open_loop(host, int(port), build, rate=rate, seconds=seconds))
    ordered = sorted(run.latencies_ms)
    unexpected = sum(count for status, count in run.statuses.items() if status != 201)
    if unexpected or run.failures:
        print(
            f"open loop at {rate:.0f}/s: statuses {dict(run.statuses)}, {run.failures} failed",
            file=sys.stderr,
        )
    return Figures(
        name=f"open {rate:.0f}/s",
        clients=run.connections_opened,
        throughput=len(ordered) / run.seconds if run.seconds else 0.0,
        requests=len(ordered),
        p50_ms=_percentile(ordered, 50),
        p95_ms=_percentile(ordered, 95),
        p99_ms=_percentile(ordered, 99),
        errors=unexpected + run.failures,
    )


def _load_availability(api: str, world: World, clients: int, seconds: float) -> Figures:
    """Ask for 14 days of one realistic provider's availability for ``seconds``."""
    first = world.first_day.date()
    query = urlencode(
        {
            "service_id": world.avail_service,
            "from": first.isoformat(),
            "to": (first + timedelta(days=13)).isoformat(),
        }
    )
    run = run_wrk(
        f"{api}/api/v1/providers/{world.avail_provider}/availability?{query}",
        script=LOAD_SCRIPT,
        connections=clients,
        seconds=seconds,
        script_args=["availability", "200"],
    )
    return _wrk_figures("availability 14d", clients, run)


def _wrk_figures(name: str, clients: int, run: dict[str, Any]) -> Figures:
    """Figures from load.lua's report; socket errors and unexpected statuses both count."""
    if run["unexpected"]:
        print(
            f"{name} at {clients} clients: {run['unexpected']} unexpected responses, "
            f"the first with status {run['first_unexpected']}",
            file=sys.stderr,
        )
    seconds = run["duration_us"] / 1e6
    return Figures(
        name=name,
        clients=clients,
        throughput=run["requests"] / seconds if seconds else 0.0,
        requests=run["requests"],
        p50_ms=run["p50_us"] / 1000,
        p95_ms=run["p95_us"] / 1000,
        p99_ms=run["p99_us"] / 1000,
        errors=sum(run[k] for k in ("connect", "read", "write", "timeout", "unexpected")),
    )


def _pgbench(cluster: PostgresCluster, clients: int, seconds: float, log_dir: Path) -> Figures:
    """Run the booking transaction in pgbench; latencies come from its per-transaction log."""
    script = HERE / "booking_transaction.sql"
    shutil.rmtree(log_dir, ignore_errors=True)
    log_dir.mkdir(parents=True)
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
            "-l",
            "--log-prefix",
            str(log_dir / "pgbench_log"),
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
    # One line a transaction: client_id transaction_no latency_us script_no epoch us.
    latencies_ms = sorted(
        int(line.split()[2]) / 1000
        for log in log_dir.glob("pgbench_log.*")
        for line in log.read_text().splitlines()
    )
    return Figures(
        name="pgbench (anchor)",
        clients=clients,
        throughput=float(match.group(1)),
        p50_ms=_percentile(latencies_ms, 50),
        p95_ms=_percentile(latencies_ms, 95),
        p99_ms=_percentile(latencies_ms, 99),
        errors=0,
        requests=len(latencies_ms),
    )


def _with_cpu(figures: Figures, meter: CpuMeter) -> Figures:
    return replace(figures, cpu_ms=meter.per_request_ms(figures.requests))


def _percentile(ordered: list[float], q: float) -> float:
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


def _report(results: list[list[Figures]], args: argparse.Namespace) -> int:
    """Print the table and the JSON line; return how many requests failed."""
    print(
        f"\nChairside booking benchmark: {args.workers} API workers, {args.seconds:g} s per phase, "
        f"{os.cpu_count()} CPUs, load from wrk (figures are ratios against pgbench in this "
        "same run)\n"
    )
    header = (
        f"{'phase':<18}{'clients':>8}{'req/s':>9}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}"
        f"{'errors':>8}{'vs pgbench':>12}"
    )
    print(header)
    print("-" * len(header))
    rows = []
    for level in results:
        anchor = next((f.throughput for f in level if f.name == "pgbench (anchor)"), None)
        for fig in level:
            ratio = fig.throughput / anchor if anchor else float("nan")
            ratio_text = f"{ratio:>11.2f}x" if anchor else f"{'-':>12}"
            print(
                f"{fig.name:<18}{fig.clients:>8}{fig.throughput:>9.1f}{fig.p50_ms:>9.1f}"
                f"{fig.p95_ms:>9.1f}{fig.p99_ms:>9.1f}{fig.errors:>8}{ratio_text}"
            )
            rows.append(
                {
                    "phase": "pgbench" if fig.name == "pgbench (anchor)" else fig.name,
                    "clients": fig.clients,
                    "throughput": round(fig.throughput, 1),
                    "p50_ms": round(fig.p50_ms, 2),
                    "p95_ms": round(fig.p95_ms, 2),
                    "p99_ms": round(fig.p99_ms, 2),
                    "errors": fig.errors,
                    "ratio_vs_pgbench": round(ratio, 3) if anchor else None,
                    "cpu_ms_per_request": {k: round(v, 2) for k, v in fig.cpu_ms.items()},
                }
            )
    _report_cpu(results)
    print(
        "\nGoals: booking >= 0.4x pgbench at 10 and 50 clients; open-loop booking p99 < 50 ms "
        "at half the best closed-loop rate; availability p95 < 25 ms."
    )
    print(json.dumps({"results": rows}, indent=None))
    return sum(fig.errors for level in results for fig in level)


def _report_cpu(results: list[list[Figures]]) -> None:
    """Where each request's CPU went: on 2 cores, every component shares the same budget."""
    names = ("api", "postgres", "redis", "client")
    header = f"{'CPU ms per request':<18}{'clients':>8}" + "".join(f"{n:>10}" for n in names)
    print(f"\n{header}{'total':>10}\n{'-' * (len(header) + 10)}")
    for level in results:
        for fig in level:
            cells = "".join(f"{fig.cpu_ms.get(n, 0.0):>10.2f}" for n in names)
            total = sum(fig.cpu_ms.values())
            print(f"{fig.name:<18}{fig.clients:>8}{cells}{total:>10.2f}")


if __name__ == "__main__":
    main()
