"""Instructions the API process executes per request, counted by valgrind's callgrind.

Throughput on these small shared machines moves by 10% and more between runs of the same
code; an instruction count repeats to within a fraction of a percent whatever else the
machine does. Use this to judge a change to a request path (run it before and after),
and ``bench_booking`` for what the change does to throughput.

Serves the app with one uvicorn worker inside callgrind (so the app runs about 50 times
slower; allow a few minutes), on its own PostgreSQL and Redis, seeds a shop through the
API, and then, for each kind of request, warms up and counts ``--requests`` sequential
requests (callgrind_control zeroes the counters before and dumps them after):

- ``GET /health``: liveness, no I/O; the anchor, the HTTP stack's floor;
- ``POST /api/v1/bookings`` with an Idempotency-Key, a new slot each time;
- ``GET /api/v1/providers/{id}/availability`` over 14 days (answered from the cache).

The counts are the API process's only: PostgreSQL and Redis run outside valgrind. Needs
valgrind (apt-get install valgrind).

    .venv/bin/python -m bench.booking.instructions --requests 200
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlencode

import httpx

from bench.booking.stack import World, running_stack, seed

CALLGRIND_LAUNCHER = ("valgrind", "-q", "--tool=callgrind", "--callgrind-out-file=callgrind.%p")
WARM_UP = 30


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200, help="counted per kind (1-10000)")
    args = parser.parse_args()
    if not 1 <= args.requests <= 10_000:
        parser.error(f"--requests {args.requests}: choose 1 to 10000")
    for tool in ("valgrind", "callgrind_control"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is not installed: apt-get install valgrind")
    with running_stack(
        workers=1,
        launcher=CALLGRIND_LAUNCHER,
        # Cheap password hashing: seeding registers accounts, inside valgrind.
        env={
            "CHAIRSIDE_PASSWORD_HASH_MEMORY_KIB": "1024",
            "CHAIRSIDE_PASSWORD_HASH_TIME_COST": "1",
        },
        start_seconds=600,
    ) as stack:
        http = httpx.Client(base_url=stack.api, timeout=600)
        world = seed(stack.api, 1, stack.cluster.conninfo("bench"))
        kinds = {
            "GET /health (anchor)": _health(http),
            "POST /api/v1/bookings": _booking(http, world),
            "GET availability 14d": _availability(http, world),
        }
        counted = {
            # valgrind writes its files in the server's working directory, the scratch one.
            name: _count(stack.server.pid, request, args.requests, stack.base)
            for name, request in kinds.items()
        }
    anchor = counted["GET /health (anchor)"]
    print(f"\nInstructions in the API process per request ({args.requests} sequential each)\n")
    print(f"{'request':<26} {'M instructions':>15} {'vs /health':>11}")
    for name, count in counted.items():
        print(f"{name:<26} {count / 1e6:>15.3f} {count / anchor:>10.1f}x")


def _count(pid: int, request: Callable[[int], None], requests: int, folder: Path) -> float:
    """Instructions per request over ``requests`` calls, after a warm-up."""
    for index in range(WARM_UP):
        request(index)
    _callgrind_control("--zero", pid)
    for index in range(WARM_UP, WARM_UP + requests):
        request(index)
    dumped = _callgrind_control("--dump", pid, folder=folder)
    return dumped / requests


def _callgrind_control(action: str, pid: int, *, folder: Path | None = None) -> int:
    """Run callgrind_control; for a dump, the instruction total of the file it wrote."""
    before = set(folder.glob(f"callgrind.{pid}.*")) if folder else set()
    subprocess.run(["callgrind_control", action, str(pid)], check=True, capture_output=True)
    if folder is None:
        return 0
    (written,) = set(folder.glob(f"callgrind.{pid}.*")) - before
    for line in written.read_text().splitlines():
        if line.startswith(("summary:", "totals:")):
            written.unlink()
            return int(line.split()[1])
    raise SystemExit(f"{written} holds no instruction total")


def _health(http: httpx.Client) -> Callable[[int], None]:
    def request(_: int) -> None:
        _expect(http.get("/health"), 200)

    return request


def _booking(http: httpx.Client, world: World) -> Callable[[int], None]:
    headers = {"Authorization": f"Bearer {world.tokens[0]}"}
    # Far enough ahead that no seeded booking is in the way; 5-minute slots, all day.
    first = world.first_day + timedelta(days=60)
    run = uuid.uuid4().hex[:8]

    def request(index: int) -> None:
        body = {
            "provider_id": world.providers[0],
            "service_id": world.service_id,
            "starts_at": (first + timedelta(minutes=5 * index)).isoformat(),
        }
        response = http.post(
            "/api/v1/bookings", headers={**headers, "Idempotency-Key": f"{run}-{index}"}, json=body
        )
        _expect(response, 201)

    return request


def _availability(http: httpx.Client, world: World) -> Callable[[int], None]:
    first = world.first_day.date()
    query = urlencode(
        {
            "service_id": world.avail_service,
            "from": first.isoformat(),
            "to": (first + timedelta(days=13)).isoformat(),
        }
    )
    url = f"/api/v1/providers/{world.avail_provider}/availability?{query}"

    def request(_: int) -> None:
        _expect(http.get(url), 200)

    return request


def _expect(response: httpx.Response, status: int) -> None:
    if response.status_code != status:
        raise SystemExit(
            f"{response.request.method} {response.request.url.path} answered "
            f"{response.status_code}, not {status}: {response.text[:300]}"
        )


if __name__ == "__main__":
    main()
