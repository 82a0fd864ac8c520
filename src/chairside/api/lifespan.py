"""Building and closing what an app holds for its lifetime (:class:`AppContext`)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from anyio import CapacityLimiter, to_thread
from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from chairside.api.admission import Admission
from chairside.api.context import AppContext
from chairside.booking.availability_cache import AvailabilityCache, invalidate_after_commit
from chairside.config import DB_POOL_RESERVE, Settings
from chairside.db import database_url, make_engine, make_session_factory, normalize_url
from chairside.logging import API_LOG, configure_logging
from chairside.ops.deploy.modes import ModeSwitch
from chairside.ops.health.watch import DatabaseWatch
from chairside.ops.metrics.http import HttpMetrics
from chairside.ops.metrics.monitoring import build_monitoring
from chairside.redis_client import redis_for
from chairside.replica_reads import ReplicaReads


def build_context(settings: Settings) -> AppContext:
    """Connect-lazily resources for one app: nothing here blocks on the network."""
    url = database_url(settings)
    pooler = settings.database_pooler_url
    engine = make_engine(
        url if pooler is None else normalize_url(pooler.get_secret_value()),
        pool_size=settings.db_pool_size,
        max_overflow=DB_POOL_RESERVE,
        pool_timeout=settings.admission_wait_seconds,
        prepared_statements=pooler is None,
    )
    registry = CollectorRegistry()
    redis_client = redis_for(settings)
    http_metrics = HttpMetrics(registry)
    modes = ModeSwitch(settings)
    sessions = make_session_factory(engine)
    cache = AvailabilityCache(
        redis_client, max_age_seconds=settings.availability_cache_seconds, registry=registry
    )
    invalidate_after_commit(sessions, cache)
    return AppContext(
        settings=settings,
        engine=engine,
        sessions=sessions,
        redis=redis_client,
        registry=registry,
        http_metrics=http_metrics,
        modes=modes,
        monitoring=build_monitoring(
            settings,
            registry=registry,
            http_metrics=http_metrics,
            engine=engine,
            redis_client=redis_client,
            modes=modes,
        ),
        availability_cache=cache,
        booking_threads=CapacityLimiter(settings.booking_threads),
        database=DatabaseWatch(url),
        admission=Admission(
            capacity=settings.db_pool_size,
            queue=settings.admission_queue,
            wait_seconds=settings.admission_wait_seconds,
        ),
        reads=ReplicaReads(
            leader=sessions,
            replica=(
                make_engine(normalize_url(settings.database_read_url.get_secret_value()))
                if settings.database_read_url is not None
                else None
            ),
            max_lag_seconds=settings.replica_max_lag_seconds,
            registry=registry,
        ),
    )


def lifespan_for(
    settings: Settings,
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(
            settings.log_level, json_lines=settings.log_json, file=settings.log_dir / API_LOG
        )
        # Refuse to start (rather than fail on the first login) with a weak production secret.
        settings.effective_jwt_secret()
        context = build_context(settings)
        to_thread.current_default_thread_limiter().total_tokens = settings.api_threads
        app.state.context = context
        await to_thread.run_sync(context.database.start)
        try:
            yield
        finally:
            await to_thread.run_sync(context.database.stop)
            context.engine.dispose()
            context.reads.dispose()
            if context.redis is not None:
                context.redis.close()

    return lifespan
