"""The app factory. It registers middleware, error handlers and routers, nothing else."""

from __future__ import annotations

from fastapi import FastAPI

from chairside import __version__
from chairside.api import problems
from chairside.api.lifespan import lifespan_for
from chairside.api.middleware import RequestContextMiddleware
from chairside.config import Settings, get_settings
from chairside.ops.health.router import router as health_router
from chairside.ops.metrics.router import router as metrics_router


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the Chairside HTTP app; settings default to the environment's."""
    settings = settings or get_settings()
    app = FastAPI(
        title="Chairside",
        version=__version__,
        summary="Bookings for barbershops and beauty salons.",
        lifespan=lifespan_for(settings),
    )
    app.add_middleware(RequestContextMiddleware)
    problems.install(app)
    app.include_router(health_router)
    app.include_router(metrics_router)
    return app
