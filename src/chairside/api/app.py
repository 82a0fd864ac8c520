"""The app factory. It registers middleware, error handlers and routers, nothing else."""

from __future__ import annotations

from fastapi import FastAPI

from chairside import __version__
from chairside.accounts.router import router as accounts_router
from chairside.api import problems, read_only_server
from chairside.api.admission import AdmissionMiddleware
from chairside.api.docs import router as docs_router
from chairside.api.lifespan import lifespan_for
from chairside.api.middleware import RequestContextMiddleware
from chairside.audit.router import router as audit_router
from chairside.booking.router import router as booking_router
from chairside.config import Settings, get_settings
from chairside.ops.health.router import router as health_router
from chairside.ops.metrics.business import BusinessMetricsMiddleware
from chairside.ops.metrics.router import router as metrics_router
from chairside.payments.router import router as payments_router
from chairside.privacy.router import router as privacy_router
from chairside.shops.router import router as shops_router
from chairside.web.router import router as ops_console_router
from chairside.webapp.router import router as webapp_router


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the Chairside HTTP app; settings default to the environment's."""
    settings = settings or get_settings()
    app = FastAPI(
        title="Chairside",
        version=__version__,
        summary="Bookings for barbershops and beauty salons.",
        lifespan=lifespan_for(settings),
        docs_url=None,  # served by api/docs.py with local assets, not from a CDN
        redoc_url=None,
    )
    app.add_middleware(AdmissionMiddleware)  # innermost: its 503s are logged and counted
    app.add_middleware(RequestContextMiddleware)
    app.add_middleware(BusinessMetricsMiddleware)
    problems.install(app)
    read_only_server.install(app)  # a write during a failover: 503, not 500
    app.include_router(health_router)
    app.include_router(metrics_router)
    # booking side (/api/v1). Routes are matched in this order, router by router: the
    # busiest (booking creation, availability) go first. Their paths overlap no other's.
    app.include_router(booking_router)
    app.include_router(accounts_router)
    app.include_router(shops_router)
    app.include_router(payments_router)
    app.include_router(privacy_router)
    app.include_router(audit_router)
    app.include_router(ops_console_router)
    app.include_router(docs_router)
    app.include_router(webapp_router)  # the pages for people: /, /login, ... (last)
    return app
