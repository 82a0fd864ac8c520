"""The health probe: every component check of one running service, in one place.

The same probe serves ``/health/detailed``, the ``chairside_health_*`` metrics and
``chairside health``; only where its readings come from differs. Inside the app it reads
the app's own engine, Redis client and HTTP metrics; from the command line it opens its
own connections and scrapes the running API's ``/metrics``. Results are cached for
``health_cache_seconds`` so that Prometheus scraping every 15 s and a load balancer
polling ``/health/detailed`` do not multiply the work.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import partial

import redis
from prometheus_client.metrics_core import Metric
from sqlalchemy import Engine

from chairside.checks import CheckResult, CheckStatus
from chairside.config import Settings
from chairside.errors import ChairsideError
from chairside.ops.deploy.modes import ModeSwitch
from chairside.ops.health import components, replication, system, tls, traffic
from chairside.ops.thresholds import threshold_table

TrafficSource = Callable[[], Iterable[Metric]]
"""Returns the HTTP metric families; raises a ChairsideError when they cannot be read."""

BackupChecks = Callable[[], Sequence[CheckResult]]

log = logging.getLogger("chairside.health")


@dataclass(frozen=True)
class HealthSnapshot:
    """The results of one probe run and when it finished."""

    results: list[CheckResult]
    at: float
    duration_seconds: float


class HealthProbe:
    """Runs the component checks against one service's dependencies."""

    def __init__(
        self,
        settings: Settings,
        *,
        engine: Engine,
        redis_client: redis.Redis | None,
        modes: ModeSwitch,
        traffic_source: TrafficSource,
        traffic_window: traffic.TrafficWindow,
        backup_checks: BackupChecks | None = None,
        extra_checks: Sequence[Callable[[], CheckResult]] = (),
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.redis = redis_client
        self.modes = modes
        self.traffic_source = traffic_source
        self.traffic_window = traffic_window
        self.backup_checks = backup_checks
        self.extra_checks = list(extra_checks)
        self._lock = threading.Lock()
        self._last: HealthSnapshot | None = None
        # Called with each fresh snapshot (the console's 24 h history); a listener that
        # fails never fails the probe.
        self.listeners: list[Callable[[HealthSnapshot], object]] = []

    def snapshot(self, *, max_age: float | None = None) -> HealthSnapshot:
        """Fresh results, or the cached ones when younger than ``max_age`` seconds."""
        age_limit = self.settings.health_cache_seconds if max_age is None else max_age
        with self._lock:
            last = self._last
            if last is not None and time.time() - last.at <= age_limit:
                return last
            started = time.perf_counter()
            results = self.run()
            self._last = HealthSnapshot(results, time.time(), time.perf_counter() - started)
            fresh = self._last
        for listener in self.listeners:
            try:
                listener(fresh)
            except Exception:  # noqa: BLE001 - a chart must not take health down
                log.exception("a health snapshot listener failed")
        return fresh

    @property
    def last(self) -> HealthSnapshot | None:
        """The newest snapshot, without running anything."""
        return self._last

    def run(self) -> list[CheckResult]:
        """Run every check now, in the order an operator reads them."""
        s = self.settings
        limits = threshold_table(s)  # the one table maintenance and alert rules use too
        disk, memory = limits["disk_percent"], limits["memory_percent"]
        connections = limits["connections_percent"]
        results = [components.check_database(self.engine)]
        database = results[0]
        if database.latency_ms is not None and database.status is CheckStatus.OK:
            if database.latency_ms > s.health_db_latency_warning_ms:
                results[0] = CheckResult(
                    "database",
                    CheckStatus.WARNING,
                    f"answering slowly: {database.latency_ms:.0f} ms "
                    f"(warning above {s.health_db_latency_warning_ms:g} ms)",
                    database.latency_ms,
                )
        if database.status is CheckStatus.CRITICAL:
            results.append(CheckResult("connections", CheckStatus.UNKNOWN, "database unreachable"))
        else:
            results.append(
                components.check_connections(
                    self.engine,
                    warning_percent=_limit(connections.warning),
                    critical_percent=_limit(connections.critical),
                )
            )
        if database.status is not CheckStatus.CRITICAL:
            results.append(replication.check_replication(self.engine, s))
        results.append(components.check_redis(self.redis))
        results.append(
            system.check_disk(
                s.health_disk_path or s.home,
                warning_percent=_limit(disk.warning),
                critical_percent=_limit(disk.critical),
            )
        )
        results.append(
            system.check_memory(
                warning_percent=_limit(memory.warning),
                critical_percent=_limit(memory.critical),
            )
        )
        if self.backup_checks is not None:
            results.extend(_guarded("backup_age", self.backup_checks))
        results.extend(_guarded("tls", self._certificates))
        results.append(check_modes(self.modes))
        results.extend(_guarded("error_rate", self._traffic))
        for check in self.extra_checks:
            results.extend(_guarded("extra", partial(_as_list, check)))
        return results

    def _certificates(self) -> list[CheckResult]:
        out = []
        for raw in self.settings.health_tls_endpoints:
            try:
                endpoint = tls.parse_endpoint(raw)
            except ChairsideError as exc:
                out.append(CheckResult(f"tls:{raw}", CheckStatus.UNKNOWN, exc.message))
                continue
            out.append(
                tls.check_certificate(
                    endpoint,
                    warning_days=self.settings.health_tls_warning_days,
                    critical_days=self.settings.health_tls_critical_days,
                )
            )
        return out

    def _traffic(self) -> list[CheckResult]:
        s = self.settings
        try:
            families = list(self.traffic_source())
        except ChairsideError as exc:
            return [
                CheckResult("error_rate", CheckStatus.UNKNOWN, exc.message),
                CheckResult("latency_p95", CheckStatus.UNKNOWN, exc.message),
            ]
        delta = self.traffic_window.observe(traffic.sample_from_metrics(families))
        return [
            traffic.check_error_rate(
                delta,
                critical_percent=s.health_error_rate_percent,
                min_requests=s.health_min_requests,
            ),
            traffic.check_latency(
                delta, p95_seconds=s.health_p95_seconds, min_requests=s.health_min_requests
            ),
        ]


def _limit(value: float | None) -> float:
    assert value is not None  # percent rows always have both limits
    return value


def _as_list(check: Callable[[], CheckResult]) -> list[CheckResult]:
    return [check()]


def _guarded(name: str, checks: Callable[[], Sequence[CheckResult]]) -> list[CheckResult]:
    """Run checks that reach outside (repositories, networks); a bug there is ``unknown``.

    One broken check must not take ``/health/detailed`` and ``/metrics`` down with it:
    those are what an operator needs while something is broken.
    """
    try:
        return list(checks())
    except ChairsideError as exc:
        return [CheckResult(name, CheckStatus.UNKNOWN, exc.message)]
    except Exception as exc:  # noqa: BLE001 - reported, logged, never raised to the caller
        log.exception("health check %s failed", name)
        return [
            CheckResult(name, CheckStatus.UNKNOWN, f"check failed: {type(exc).__name__}: {exc}")
        ]


def check_modes(modes: ModeSwitch) -> CheckResult:
    """Maintenance or read-only mode on is a warning: clients are being turned away."""
    state = modes.current()
    if state.maintenance:
        return CheckResult(
            "modes", CheckStatus.WARNING, "maintenance mode is ON", details=state.to_dict()
        )
    if state.read_only:
        return CheckResult(
            "modes", CheckStatus.WARNING, "read-only mode is ON", details=state.to_dict()
        )
    return CheckResult("modes", CheckStatus.OK, "serving normally", details=state.to_dict())
