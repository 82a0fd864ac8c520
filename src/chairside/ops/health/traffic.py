"""The service's own error rate and p95 latency, read from its HTTP metrics.

The HTTP counters are cumulative since the process started, so a rate needs two
readings. A :class:`TrafficWindow` keeps timestamped :class:`TrafficSample` readings and
compares the newest with the newest one at least ``window`` seconds older (else the
oldest it has): the same idea as Prometheus' ``rate()``, so a burst of errors an hour
ago does not keep the check red. A counter that went down means a restart: the old
readings are dropped and the window restarts from zero.

Monitoring traffic (``/health*``, ``/metrics``) is left out: an operator polling health
must not dilute, or inflate, the rate clients see. So are the 503s maintenance and
read-only mode answer (route label ``(mode)``): a deployment must not fail on its own
maintenance window.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from prometheus_client.metrics_core import Metric

from chairside.checks import CheckResult, CheckStatus

REQUESTS_TOTAL = "http_requests_total"
DURATION_BUCKET = "http_request_duration_seconds_bucket"
MONITORING_ROUTES = ("/health", "/metrics")
# Requests maintenance or read-only mode turned away (api/middleware.py MODE_ROUTE): the
# mode doing its job, not the service failing.
MODE_ROUTE = "(mode)"


@dataclass(frozen=True)
class TrafficSample:
    """Cumulative request, 5xx and latency-bucket counts at one moment."""

    at: float
    requests: float
    errors: float
    buckets: dict[float, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        return {
            "at": self.at,
            "requests": self.requests,
            "errors": self.errors,
            "buckets": {repr(le): count for le, count in self.buckets.items()},
        }

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> TrafficSample:
        raw = data.get("buckets") or {}
        assert isinstance(raw, dict)
        return cls(
            at=float(str(data["at"])),
            requests=float(str(data["requests"])),
            errors=float(str(data["errors"])),
            buckets={float(le): float(count) for le, count in raw.items()},
        )


@dataclass(frozen=True)
class TrafficDelta:
    """What happened between two samples: request count, error ratio, p95."""

    seconds: float
    requests: float
    errors: float
    p95_seconds: float | None

    @property
    def error_ratio(self) -> float:
        return self.errors / self.requests if self.requests else 0.0


def sample_from_metrics(metrics: Iterable[Metric], *, at: float | None = None) -> TrafficSample:
    """Sum the HTTP families of a registry or a parsed scrape into one sample."""
    requests = errors = 0.0
    buckets: dict[float, float] = {}
    for family in metrics:
        for sample in family.samples:
            route = sample.labels.get("route", "")
            if route.startswith(MONITORING_ROUTES) or route == MODE_ROUTE:
                continue
            if sample.name == REQUESTS_TOTAL:
                requests += sample.value
                if sample.labels.get("status", "").startswith("5"):
                    errors += sample.value
            elif sample.name == DURATION_BUCKET:
                le = float(sample.labels["le"])
                buckets[le] = buckets.get(le, 0.0) + sample.value
    return TrafficSample(
        at=time.time() if at is None else at, requests=requests, errors=errors, buckets=buckets
    )


def quantile(q: float, buckets: dict[float, float]) -> float | None:
    """``histogram_quantile`` over cumulative buckets; None when there are no events."""
    bounds = sorted(buckets)
    if not bounds or buckets[bounds[-1]] <= 0:
        return None
    total = buckets[bounds[-1]]
    rank = q * total
    lower_bound, lower_count = 0.0, 0.0
    for bound in bounds:
        count = buckets[bound]
        if count >= rank:
            if math.isinf(bound):
                # Like Prometheus: past the last finite bucket, the best we can say is it.
                return lower_bound
            width = count - lower_count
            if width <= 0:
                return bound
            return lower_bound + (bound - lower_bound) * (rank - lower_count) / width
        lower_bound, lower_count = bound, count
    return lower_bound


class TrafficWindow:
    """Timestamped samples, kept in memory or (for the CLI) in a small JSON file."""

    def __init__(self, window_seconds: float, *, path: Path | None = None) -> None:
        self.window_seconds = window_seconds
        self._path = path
        self._samples: list[TrafficSample] = self._load()

    def observe(self, sample: TrafficSample) -> TrafficDelta:
        """Add ``sample`` and return the traffic since the baseline of the window."""
        if self._samples and sample.requests < self._samples[-1].requests:
            self._samples = []  # the service restarted: its counters began again
        baseline = self._baseline(sample.at)
        keep_after = sample.at - 2 * self.window_seconds
        self._samples = [s for s in self._samples if s.at >= keep_after] + [sample]
        self._save()
        if baseline is None:
            return TrafficDelta(0.0, sample.requests, sample.errors, quantile(0.95, sample.buckets))
        buckets = {
            le: count - baseline.buckets.get(le, 0.0) for le, count in sample.buckets.items()
        }
        return TrafficDelta(
            seconds=sample.at - baseline.at,
            requests=sample.requests - baseline.requests,
            errors=sample.errors - baseline.errors,
            p95_seconds=quantile(0.95, buckets),
        )

    def _baseline(self, now: float) -> TrafficSample | None:
        older = [s for s in self._samples if now - s.at >= self.window_seconds]
        if older:
            return older[-1]
        # Younger than a window: count from zero (process start) so a fresh burst of
        # errors is seen at once, not a window later.
        return None

    def _load(self) -> list[TrafficSample]:
        if self._path is None or not self._path.exists():
            return []
        try:
            raw = json.loads(self._path.read_text())
            return [TrafficSample.from_dict(item) for item in raw]
        except (json.JSONDecodeError, KeyError, ValueError, AssertionError, TypeError):
            return []  # a torn file only costs us one window of history

    def _save(self) -> None:
        if self._path is None:
            return
        self._path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._path.with_suffix(".tmp")
        tmp.write_text(json.dumps([s.to_dict() for s in self._samples]))
        tmp.replace(self._path)


def check_error_rate(
    delta: TrafficDelta, *, critical_percent: float, min_requests: int
) -> CheckResult:
    """Critical when more than ``critical_percent`` of client requests answered 5xx."""
    details: dict[str, object] = {
        "requests": delta.requests,
        "errors": delta.errors,
        "window_seconds": round(delta.seconds, 1),
        "threshold_percent": critical_percent,
    }
    ratio_percent = delta.error_ratio * 100
    percent = round(ratio_percent, 2)
    details["error_percent"] = percent
    if delta.requests < min_requests:
        return CheckResult(
            "error_rate",
            CheckStatus.OK,
            f"{delta.requests:.0f} requests in the window, under {min_requests}: too few to judge",
            details=details,
        )
    # The unrounded ratio, as the alert rule compares it.
    status = CheckStatus.CRITICAL if ratio_percent > critical_percent else CheckStatus.OK
    return CheckResult(
        "error_rate",
        status,
        f"{percent}% of {delta.requests:.0f} requests answered 5xx "
        f"(critical above {critical_percent}%)",
        details=details,
    )


def check_latency(delta: TrafficDelta, *, p95_seconds: float, min_requests: int) -> CheckResult:
    """Critical when the 95th percentile answer time is above ``p95_seconds``."""
    details: dict[str, object] = {
        "requests": delta.requests,
        "p95_seconds": delta.p95_seconds,
        "threshold_seconds": p95_seconds,
    }
    if delta.p95_seconds is None or delta.requests < min_requests:
        return CheckResult(
            "latency_p95",
            CheckStatus.OK,
            f"{delta.requests:.0f} requests in the window, under {min_requests}: too few to judge",
            details=details,
        )
    p95 = delta.p95_seconds
    status = CheckStatus.CRITICAL if p95 > p95_seconds else CheckStatus.OK
    return CheckResult(
        "latency_p95",
        status,
        f"p95 {p95 * 1000:.0f} ms over {delta.requests:.0f} requests "
        f"(critical above {p95_seconds * 1000:.0f} ms)",
        details=details,
    )
