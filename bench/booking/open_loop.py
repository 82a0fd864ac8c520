"""An open-loop HTTP load: requests sent at a fixed rate, whether or not earlier ones answered.

Closed-loop clients (wrk, pgbench) send their next request when the last one answered, so
at N clients latency is N / throughput whatever the server does; users arrive at a rate.
This driver sends request ``i`` at ``start + i / rate`` on a pool of keep-alive
connections (opening another when every one is busy) and measures each latency from the
moment the request was due, not from when it went out, so a stalled server cannot hide
its stall (coordinated omission). Raw asyncio streams, not an HTTP library: at a few
hundred requests per second the client must cost the server's 2 cores little.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class OpenLoopResult:
    """What an open-loop run saw."""

    rate: float
    sent: int
    statuses: Counter[int] = field(default_factory=Counter)
    latencies_ms: list[float] = field(default_factory=list)
    by_status_ms: dict[int, list[float]] = field(default_factory=dict)
    without_retry_after: int = 0  # 429 and 503 answers that did not say when to retry
    failures: int = 0
    connections_opened: int = 0
    seconds: float = 0.0


class Connection:
    """One keep-alive HTTP/1.1 connection."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, host: str, port: int) -> Connection:
        return cls(*await asyncio.open_connection(host, port))

    async def exchange(self, request: bytes) -> tuple[int, bool]:
        """Send one request, read its whole response; its status, and whether it had
        ``Retry-After``."""
        self.writer.write(request)
        await self.writer.drain()
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = 0
        retry_after = False
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value.strip())
            elif name == b"retry-after":
                retry_after = True
        if length:
            await self.reader.readexactly(length)
        return status, retry_after

    def close(self) -> None:
        self.writer.close()


def record(result: OpenLoopResult, status: int, retry_after: bool, ms: float) -> None:
    """Count one answer."""
    result.latencies_ms.append(ms)
    result.by_status_ms.setdefault(status, []).append(ms)
    result.statuses[status] += 1
    if status in (429, 503) and not retry_after:
        result.without_retry_after += 1


async def run_open_loop(
    host: str,
    port: int,
    build: Callable[[int], bytes],
    *,
    rate: float,
    seconds: float,
    connections: int = 64,
) -> OpenLoopResult:
    """Send ``build(i)`` for i in 0..rate*seconds at ``rate`` per second."""
    total = int(rate * seconds)
    result = OpenLoopResult(rate=rate, sent=total)
    idle = [await Connection.open(host, port) for _ in range(connections)]
    result.connections_opened = connections

    async def one(i: int, due: float) -> None:
        if idle:
            conn = idle.pop()
        else:
            conn = await Connection.open(host, port)
            result.connections_opened += 1
        try:
            status, retry_after = await conn.exchange(build(i))
        except (OSError, asyncio.IncompleteReadError, ValueError):
            result.failures += 1
            conn.close()
            return
        record(result, status, retry_after, (time.perf_counter() - due) * 1000)
        idle.append(conn)

    started = time.perf_counter()
    tasks = []
    for i in range(total):
        due = started + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i, due)))
    await asyncio.gather(*tasks)
    result.seconds = time.perf_counter() - started
    for conn in idle:
        conn.close()
    return result


def booking_request(
    host: str, *, token: str, provider_id: str, service_id: str, starts_at: str, key: str
) -> bytes:
    """``POST /api/v1/bookings`` as raw HTTP/1.1 bytes."""
    body = (
        f'{{"provider_id":"{provider_id}","service_id":"{service_id}","starts_at":"{starts_at}"}}'
    ).encode()
    head = (
        f"POST /api/v1/bookings HTTP/1.1\r\nHost: {host}\r\n"
        f"Authorization: Bearer {token}\r\nIdempotency-Key: {key}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    return head + body
