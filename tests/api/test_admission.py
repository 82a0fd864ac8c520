"""Admission: a bounded wait for a place, refused at once only when the queue is full."""

from __future__ import annotations

import time

import anyio

from chairside.api.admission import Admission


def test_a_request_waits_at_most_the_bound_for_a_place_then_is_refused() -> None:
    async def scenario() -> tuple[bool, bool, float]:
        admission = Admission(capacity=1, queue=5, wait_seconds=0.2)
        first = await admission.enter()
        started = time.perf_counter()
        second = await admission.enter()
        return first is not None, second is not None, time.perf_counter() - started

    first, second, waited = anyio.run(scenario)
    assert first is True
    assert second is False
    assert 0.15 < waited < 1.0


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
            # one waits already, the queue holds one: refused at once
            assert not admission.has_room()
            started = time.perf_counter()
            results["over_queue"] = await admission.enter() is not None
            assert time.perf_counter() - started < 0.1
            admission.leave(inside)
        return results["waiter"], results["over_queue"]

    waiter, over_queue = anyio.run(scenario)
    assert waiter is True
    assert over_queue is False
