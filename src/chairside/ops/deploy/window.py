"""The traffic a new version served: what deployment verification judges.

``deploy finish`` reads the running API's HTTP counters the moment maintenance mode ends
and keeps that reading in the deployment record. Verification then judges only what
came after it: the error rate and p95 of the requests the new version answered, never
the 503s the maintenance window itself served (those carry the route label ``(mode)``
and are left out of every error rate, see ``ops/health/traffic.py``). A counter lower
than the kept reading means the API restarted on the new code: then every request it
counted is the new version's, and the window starts at zero.

The minimum-request rule is the health check's: fewer requests than
``health_min_requests`` is too few to judge, and says so.
"""

from __future__ import annotations

import httpx

from chairside.checks import CheckResult
from chairside.config import Settings
from chairside.errors import ChairsideError
from chairside.ops.health import traffic
from chairside.ops.health.service import api_base_url, scrape_metrics


def read_traffic(settings: Settings) -> traffic.TrafficSample | None:
    """The running API's client-traffic counters now; None when it cannot be read."""
    with httpx.Client(base_url=api_base_url(settings), timeout=3.0) as client:
        try:
            return traffic.sample_from_metrics(scrape_metrics(client))
        except ChairsideError:
            return None


def served_since(
    baseline: traffic.TrafficSample, now: traffic.TrafficSample
) -> traffic.TrafficDelta:
    """What happened between ``baseline`` and ``now`` (from zero after a restart)."""
    start = baseline
    if now.requests < baseline.requests:
        start = traffic.TrafficSample(at=baseline.at, requests=0.0, errors=0.0)
    buckets = {le: count - start.buckets.get(le, 0.0) for le, count in now.buckets.items()}
    return traffic.TrafficDelta(
        seconds=max(0.0, now.at - start.at),
        requests=now.requests - start.requests,
        errors=now.errors - start.errors,
        p95_seconds=traffic.quantile(0.95, buckets),
    )


def judge_new_version(
    settings: Settings, baseline: traffic.TrafficSample, *, since: str
) -> list[CheckResult] | None:
    """``error_rate`` and ``latency_p95`` over the requests served since ``baseline``;
    None when the API's counters cannot be read now."""
    now = read_traffic(settings)
    if now is None:
        return None
    delta = served_since(baseline, now)
    checks = [
        traffic.check_error_rate(
            delta,
            critical_percent=settings.health_error_rate_percent,
            min_requests=settings.health_min_requests,
        ),
        traffic.check_latency(
            delta,
            p95_seconds=settings.health_p95_seconds,
            min_requests=settings.health_min_requests,
        ),
    ]
    suffix = f" since the new version began serving at {since}"
    return [
        CheckResult(
            c.name,
            c.status,
            c.summary + suffix,
            c.latency_ms,
            {**c.details, "serving_since": since, "window": "new_version"},
        )
        for c in checks
    ]
