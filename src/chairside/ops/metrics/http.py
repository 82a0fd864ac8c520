"""HTTP request metrics, labelled by the route *template* so ids do not explode series."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0)


class HttpMetrics:
    """``http_requests_total`` and ``http_request_duration_seconds`` on one registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "http_requests",
            "HTTP requests answered, by method, route template and status code.",
            ["method", "route", "status"],
            registry=registry,
        )
        self.duration = Histogram(
            "http_request_duration_seconds",
            "Time to answer an HTTP request, by method and route template.",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.security_events = Counter(
            "chairside_security_events",
            "Failed logins and refused authorizations, by kind (login_failed, forbidden, "
            "token_rejected).",
            ["kind"],
            registry=registry,
        )

    def security_event(self, kind: str) -> None:
        """Count one failed login or refused authorization (``security.*`` kinds)."""
        self.security_events.labels(kind=kind.removeprefix("security.")).inc()

    def observe(self, *, method: str, route: str, status: int, seconds: float) -> None:
        """Count one answered request and its duration."""
        self.requests.labels(method=method, route=route, status=str(status)).inc()
        self.duration.labels(method=method, route=route).observe(seconds)
