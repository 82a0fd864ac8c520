"""Wiring one app's monitoring: the health probe, the collectors and the exposition.

Called once by the app's lifespan; the result lives on ``AppContext.monitoring``.
"""

from __future__ import annotations

import atexit
import os
from dataclasses import dataclass

import redis
from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import mark_process_dead
from sqlalchemy import Engine

from chairside.config import Settings
from chairside.ops.deploy.modes import ModeSwitch
from chairside.ops.health.backups import check_backups
from chairside.ops.health.history import history_for
from chairside.ops.health.probe import HealthProbe
from chairside.ops.health.traffic import TrafficWindow
from chairside.ops.metrics.business import BusinessMetrics, BusinessStateCollector
from chairside.ops.metrics.exposition import MetricsExposition
from chairside.ops.metrics.health import HealthCollector, SmokeCollector
from chairside.ops.metrics.http import HttpMetrics
from chairside.ops.metrics.pool import PoolMetrics
from chairside.ops.metrics.reminders import ReminderCollector
from chairside.reminders.channel import channel_configs


@dataclass
class Monitoring:
    """What one app exposes about itself: health results and ``/metrics``."""

    probe: HealthProbe
    exposition: MetricsExposition
    pool: PoolMetrics
    business: BusinessMetrics


def build_monitoring(
    settings: Settings,
    *,
    registry: CollectorRegistry,
    http_metrics: HttpMetrics,
    engine: Engine,
    redis_client: redis.Redis | None,
    modes: ModeSwitch,
) -> Monitoring:
    """Register every collector of one app on ``registry`` and build its probe."""
    exposition = MetricsExposition(registry)
    if exposition.multiprocess:
        # livesum gauges count only live workers: a worker that exits removes its files.
        atexit.register(mark_process_dead, os.getpid())
    probe = HealthProbe(
        settings,
        engine=engine,
        redis_client=redis_client,
        modes=modes,
        traffic_source=lambda: exposition.process_metrics(
            [http_metrics.requests, http_metrics.duration]
        ),
        traffic_window=TrafficWindow(settings.health_window_seconds),
        backup_checks=lambda: check_backups(settings),
    )
    history = history_for(settings.home)
    probe.listeners.append(lambda snapshot: history.record(snapshot.results, snapshot.at))
    pool = PoolMetrics(registry)
    pool.watch(engine)
    exposition.add_state_collector(HealthCollector(probe))
    exposition.add_state_collector(SmokeCollector(settings))
    exposition.add_state_collector(
        BusinessStateCollector(engine, cache_seconds=settings.health_cache_seconds)
    )
    exposition.add_state_collector(
        ReminderCollector(
            engine,
            cache_seconds=settings.health_cache_seconds,
            channels=[channel.name for channel in channel_configs(settings)],
        )
    )
    return Monitoring(
        probe=probe, exposition=exposition, pool=pool, business=BusinessMetrics(registry)
    )
