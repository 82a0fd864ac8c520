"""The availability page at 10 concurrent users, against the JSON availability API.

Starts its own PostgreSQL, Redis and API (bench/booking/stack.py), seeds a realistic
provider (09:00-18:00 with lunch and some bookings), then ``--users`` Chromium pages
(one browser context each, so each keeps its own cache like a person's phone) navigate
``--rounds`` times each, alternately, to

- the web app's page ``/book/{provider}/{service}?day=D`` (HTML, its stylesheet and
  script), and
- the API's ``/api/v1/providers/{provider}/availability?service_id=&from=D&to=D`` (the
  same day's slots as JSON, from the same cached service function),

all users at once. Each navigation is measured by the browser's own Navigation Timing:
time to first byte (``responseStart``) and to interactive (``domInteractive``; the page
is usable without script, which is deferred) and ``loadEventEnd`` (the stylesheet and
script loaded). It prints medians and p90s of both and their ratio (page / API).

    flock /tmp/chairside-bench.lock .venv/bin/python -m bench.webapp.bench_availability_page
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
from datetime import timedelta
from typing import Any

from playwright.async_api import Browser, async_playwright

from bench.booking.stack import running_stack, seed

TIMING = """() => {
  const n = performance.getEntriesByType("navigation")[0];
  return {ttfb: n.responseStart - n.startTime, interactive: n.domInteractive - n.startTime,
          load: n.loadEventEnd - n.startTime, status: n.responseStatus};
}"""


async def _user(browser: Browser, urls: list[str], rounds: int) -> dict[str, list[dict[str, Any]]]:
    context = await browser.new_context(viewport={"width": 390, "height": 844})
    page = await context.new_page()
    found: dict[str, list[dict[str, Any]]] = {"page": [], "api": []}
    for n in range(rounds):
        for kind, url in zip(("page", "api"), urls, strict=True):
            await page.goto(url, wait_until="load")
            timing = await page.evaluate(TIMING)
            if n > 0:  # the first round warms the context's cache (assets, connection)
                found[kind].append(timing)
    await context.close()
    return found


def _stats(values: list[float]) -> tuple[float, float]:
    ordered = sorted(values)
    return statistics.median(ordered), ordered[int(0.9 * (len(ordered) - 1))]


async def _run(api: str, provider: str, service: str, day: str, users: int, rounds: int) -> None:
    urls = [
        f"{api}/book/{provider}/{service}?day={day}",
        f"{api}/api/v1/providers/{provider}/availability?service_id={service}&from={day}&to={day}",
    ]
    async with async_playwright() as p:
        browser = await p.chromium.launch(
            executable_path="/usr/bin/chromium", args=["--no-sandbox"]
        )
        results = await asyncio.gather(*(_user(browser, urls, rounds) for _ in range(users)))
        await browser.close()
    merged: dict[str, list[dict[str, Any]]] = {"page": [], "api": []}
    for result in results:
        for kind in merged:
            merged[kind].extend(result[kind])
    statuses = {kind: sorted({t["status"] for t in merged[kind]}) for kind in merged}
    print(f"{users} concurrent users, {rounds - 1} measured navigations each per kind")
    print(f"statuses: {statuses}")
    columns = ("page p50", "page p90", "api p50", "api p90")
    print(f"{'ms':<14}" + "".join(f"{c:>10}" for c in columns) + f"{'page/api':>11}")
    for metric in ("ttfb", "interactive", "load"):
        page50, page90 = _stats([t[metric] for t in merged["page"]])
        api50, api90 = _stats([t[metric] for t in merged["api"]])
        print(
            f"{metric:<14}{page50:>9.1f} {page90:>9.1f} {api50:>9.1f} {api90:>9.1f}"
            f"{page50 / api50 if api50 else float('nan'):>10.2f}x"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=11)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    env = {"CHAIRSIDE_LOG_LEVEL": "ERROR"}
    with running_stack(workers=args.workers, env=env) as stack:
        world = seed(stack.api, 1, stack.cluster.conninfo("bench"))
        day = world.first_day + timedelta(days=1)
        if day.weekday() == 6:
            day += timedelta(days=1)
        asyncio.run(
            _run(
                stack.api,
                world.avail_provider,
                world.avail_service,
                day.date().isoformat(),
                args.users,
                args.rounds,
            )
        )


if __name__ == "__main__":
    main()
