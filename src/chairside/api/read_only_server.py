"""A write that reached a server in recovery: a failover is under way, so 503, not 500.

During a failover the proxy's health check (Patroni's ``/primary``) turns to the new
leader as soon as it holds the leader key, a moment before PostgreSQL has left recovery;
a transaction arriving in that moment is refused with SQLSTATE 25006 (read-only
transaction). The request can be retried within a second or two, so it is answered like
any other database outage: 503 + ``Retry-After``. Any other internal database error stays
a 500 (a bug).
"""

from __future__ import annotations

import logging

import sqlalchemy.exc
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from chairside.api.problems import problem_response

log = logging.getLogger("chairside.http")

READ_ONLY_SQL_TRANSACTION = "25006"
RETRY_AFTER_SECONDS = 2


async def _internal_database_error(request: Request, exc: Exception) -> JSONResponse:
    state = getattr(getattr(exc, "orig", None), "sqlstate", None)
    if state == READ_ONLY_SQL_TRANSACTION:
        log.warning("write reached a read-only server (failover under way)")
        return problem_response(
            503,
            "the database is changing leader; try again shortly",
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    log.error("unhandled error", exc_info=exc, extra={"path": request.url.path})
    return problem_response(500, "internal error")


def install(app: FastAPI) -> None:
    """Register the handler of internal database errors on ``app``."""
    app.add_exception_handler(sqlalchemy.exc.InternalError, _internal_database_error)
