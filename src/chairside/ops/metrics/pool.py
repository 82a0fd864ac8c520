"""Database pool metrics, fed by SQLAlchemy pool events rather than polled.

Events keep the counting in the worker that checks a connection out, which is what
multiprocess mode can sum (``livesum``: only live workers count), and the database code
never has to know Prometheus exists.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge
from sqlalchemy import Engine, event
from sqlalchemy.pool import QueuePool


class PoolMetrics:
    """``chairside_db_pool_*``: pool capacity, connections checked out, checkouts."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.size = Gauge(
            "chairside_db_pool_size_connections",
            "Connections the pool keeps open at most, plus its overflow, summed over workers.",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.checked_out = Gauge(
            "chairside_db_pool_checked_out_connections",
            "Pooled database connections in use right now, summed over workers.",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.checkouts = Counter(
            "chairside_db_pool_checkouts",
            "Connections handed out by the pool.",
            registry=registry,
        )

    def watch(self, engine: Engine) -> None:
        """Count this engine's pool from now on."""
        pool = engine.pool
        if isinstance(pool, QueuePool):
            self.size.inc(pool.size() + max(pool._max_overflow, 0))
        event.listen(engine, "checkout", self._on_checkout)
        event.listen(engine, "checkin", self._on_checkin)

    def _on_checkout(self, *_args: Any) -> None:
        self.checked_out.inc()
        self.checkouts.inc()

    def _on_checkin(self, *_args: Any) -> None:
        self.checked_out.dec()
