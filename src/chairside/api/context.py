"""What a running app holds: settings, the database engine, Redis, metrics, modes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import redis
from anyio import CapacityLimiter
from prometheus_client import CollectorRegistry
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from chairside.booking.availability_cache import AvailabilityCache
from chairside.config import Settings
from chairside.ops.deploy.modes import ModeSwitch
from chairside.ops.health.watch import DatabaseWatch
from chairside.ops.metrics.http import HttpMetrics
from chairside.ops.metrics.monitoring import Monitoring
from chairside.replica_reads import ReplicaReads

if TYPE_CHECKING:
    from chairside.api.admission import Admission


@dataclass
class AppContext:
    """Built once per app in its lifespan; reached from routes through ``ContextDep``."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    redis: redis.Redis | None
    registry: CollectorRegistry
    http_metrics: HttpMetrics
    modes: ModeSwitch
    monitoring: Monitoring  # health probe and /metrics exposition (ops/metrics)
    availability_cache: AvailabilityCache
    # Threads for booking creation, apart from the default pool (settings.booking_threads).
    booking_threads: CapacityLimiter
    # Is PostgreSQL answering (a probe at most ~1 s old), and who may use it now.
    database: DatabaseWatch
    admission: Admission
    # Search and availability: a replica within the lag bound, else the leader.
    reads: ReplicaReads
