"""Admission: a bounded wait for a place, refused at once when the wait would be too long."""

from __future__ import annotations

import time

import anyio

from chairside.api.admission import Admission


def test_a_request_waits_at_most_the_bound_for_a_place_then_is_refused() -> None:
    async def scenario() -> tuple[bool, bool, float]:
        admission = Admission(capacity=1, queue=5, wait_seconds=0.2)
        admission.service_seconds = 0.01  # expected wait is short: it does wait
        first = await admission.enter()
        started = time.perf_counter()
        second = await admission.enter()
        return first is not None, second is not None, time.perf_counter() - started

    first, second, waited = anyio.run(scenario)
    assert first is True
    assert second is False
    assert 0.15 < waited < 1.0


def test_a_request_is_refused_at_once_when_the_queue_ahead_would_take_too_long() -> None:
    async def scenario() -> tuple[bool, float, bool]:
        admission = Admission(capacity=1, queue=5, wait_seconds=1.0)
        admission.service_seconds = 2.0  # one request inside takes longer than the bound
        await admission.enter()
        room = admission.has_room()
        started = time.perf_counter()
        refused = await admission.enter() is None
        return refused, time.perf_counter() - started, room

    refused, waited, room = anyio.run(scenario)
    assert refused
    assert room is False
    assert waited < 0.1


def test_a_place_freed_in_time_admits_the_waiting_request_and_the_queue_bounds_waiters() -> None:
    async def scenario() -> tuple[bool, bool]:
        admission = Admission(capacity=1, queue=1, wait_seconds=2.0)
        inside = await admission.enter()
        assert inside is not None
        results: dict[str, bool] = {}
        async with anyio.create_task_group() as group:

            async def wait_for_place() -> None:
                results["waiter"] = await admission.enter() is not None

            group.start_soon(wait_for_place)
            await anyio.sleep(0.05)
            # one waits already, the queue holds one: refused
            results["over_queue"] = await admission.enter() is not None
            admission.leave(inside)
        return results["waiter"], results["over_queue"]

    waiter, over_queue = anyio.run(scenario)
    assert waiter is True
    assert over_queue is False
