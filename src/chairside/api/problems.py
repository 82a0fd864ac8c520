"""Errors as ``application/problem+json`` (RFC 9457): the one place HTTP statuses are chosen.

Services raise :class:`~chairside.errors.ChairsideError` subclasses; this module maps each
class to a status and renders the message, the offending field and the request id.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import sqlalchemy.exc
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from chairside import errors
from chairside.logging import request_id_var

PROBLEM_JSON = "application/problem+json"
log = logging.getLogger("chairside.http")

# Most specific first: the first class in an error's MRO found here decides.
_STATUS: dict[type[errors.ChairsideError], int] = {
    errors.NotFoundError: 404,
    errors.ConflictError: 409,
    errors.InputError: 422,
    errors.PermissionDeniedError: 403,
    errors.AuthError: 401,
    errors.RateLimitedError: 429,
    errors.UnavailableError: 503,
    errors.GuardRefusedError: 409,
    errors.DependencyDownError: 503,
    errors.ComponentError: 503,
    errors.ConfigError: 500,
    errors.OperationFailedError: 500,
    errors.ChairsideError: 500,
}

_TITLES = {
    400: "Bad request",
    401: "Not authenticated",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    422: "Invalid input",
    429: "Too many requests",
    500: "Internal error",
    503: "Service unavailable",
}


def status_for(error: errors.ChairsideError) -> int:
    """The HTTP status of a Chairside error class."""
    for cls in type(error).__mro__:
        if cls in _STATUS:
            return _STATUS[cls]
    return 500


def problem_response(
    status: int,
    detail: str,
    *,
    extra: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """A problem+json response carrying the current request id."""
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": _TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
    }
    request_id = request_id_var.get()
    if request_id:
        body["request_id"] = request_id
    body.update(extra or {})
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


async def _chairside_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, errors.ChairsideError)
    status = status_for(exc)
    extra: dict[str, Any] = {}
    headers: dict[str, str] = {}
    if isinstance(exc, errors.InputError) and exc.field:
        extra["errors"] = [{"field": exc.field, "message": exc.message}]
    if exc.details:
        extra["details"] = exc.details
    if isinstance(exc, errors.RateLimitedError | errors.UnavailableError):
        headers["Retry-After"] = str(exc.retry_after)
    if isinstance(exc, errors.AuthError) and not isinstance(exc, errors.PermissionDeniedError):
        headers["WWW-Authenticate"] = "Bearer"
    detail = exc.message if status < 500 or status == 503 else "internal error"
    return problem_response(status, detail, extra=extra, headers=headers)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = []
    for item in exc.errors():
        location = [str(part) for part in item.get("loc", ()) if part != "body"]
        field = ".".join(location) or "body"
        problems.append(
            {
                "field": field,
                "message": item.get("msg", "invalid"),
                "input": _safe_input(item.get("input")),
            }
        )
    summary = "; ".join(f"{p['field']}: {p['message']}" for p in problems)
    return problem_response(422, summary or "invalid input", extra={"errors": problems})


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    return problem_response(exc.status_code, str(exc.detail), headers=exc.headers)


def _safe_input(value: object) -> object:
    """Echo simple bad values back; never echo large or nested bodies (or passwords)."""
    if isinstance(value, str | int | float | bool) or value is None:
        return value if not isinstance(value, str) or len(value) <= 200 else value[:200] + "…"
    return None


# The database went away or is too busy mid-request (connection refused or lost, a pool
# that had no connection within its timeout, a statement cancelled): the request can be
# retried, so it is 503 + Retry-After, never a 500. Bugs stay 500s.
DATABASE_UNAVAILABLE = (
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.InterfaceError,
    sqlalchemy.exc.TimeoutError,
)
DATABASE_RETRY_AFTER_SECONDS = 2


async def _database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    log.warning("database unavailable", extra={"error": str(exc).splitlines()[0][:200]})
    return problem_response(
        503,
        "the database is unavailable or busy; try again shortly",
        headers={"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)},
    )


def install(app: FastAPI) -> None:
    """Register the problem+json exception handlers on ``app``."""
    for error_class in DATABASE_UNAVAILABLE:
        app.add_exception_handler(error_class, _database_unavailable)
    app.add_exception_handler(errors.ChairsideError, _chairside_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
