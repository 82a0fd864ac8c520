"""Errors as ``application/problem+json`` (RFC 9457): the one place HTTP statuses are chosen.

Services raise :class:`~chairside.errors.ChairsideError` subclasses; this module maps each
class to a status and renders the message, the offending field and the request id.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import Any

import sqlalchemy.exc
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from psycopg import errors as pg_errors
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException

from chairside import errors
from chairside.api.security_events import record_auth_failure
from chairside.logging import request_id_var
from chairside.webapp.errors import error_page
from chairside.webapp.paths import wants_page

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


_DESCRIPTIONS = {
    400: "Malformed request",
    401: "Missing, invalid, expired or revoked token (WWW-Authenticate: Bearer)",
    402: "Card declined; the booking stays held (`booking` carries it)",
    403: "Authenticated, but this role may not do this",
    404: "Does not exist, or is not yours",
    409: "The current state does not allow it (`details` says why)",
    422: "Invalid input; `errors[].field` names each bad field and what is allowed",
    429: "Rate limited; retry after `Retry-After` seconds",
    503: "Maintenance, read-only mode or overload; retry after `Retry-After` seconds",
}
PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": "Problem",
    "description": "RFC 9457 problem details",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string"},
        "request_id": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["field", "message"],
                "properties": {
                    "field": {"type": "string"},
                    "message": {"type": "string"},
                    "input": {},
                },
            },
        },
        "details": {"type": "object"},
    },
}
# Every operation can answer these: bad input, and maintenance / read-only / overload.
ALWAYS = (422, 503)
WRITE_METHODS = {"post", "put", "patch", "delete"}


def documented(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route: the problems it answers beyond the general rules.

    The rules (applied to every operation by :func:`describe_problems`): 422 and 503
    everywhere; 400 where a body is read; 401 and 403 where a token is needed; 404 where
    the path names something; 409 on writes that name something.
    """
    return {status: _problem_response(status) for status in statuses}


def _problem_response(status: int) -> dict[str, Any]:
    return {
        "description": _DESCRIPTIONS.get(status, _TITLES.get(status, "Error")),
        "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }


def describe_problems(schema: dict[str, Any]) -> dict[str, Any]:
    """Add every problem status each operation can answer to an OpenAPI document."""
    schema.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            statuses = set(ALWAYS)
            if "requestBody" in operation:
                statuses.add(400)  # a body that is not JSON at all
            if operation.get("security"):
                statuses |= {401, 403}
            if "{" in path:
                statuses.add(404)
                if method in WRITE_METHODS:
                    statuses.add(409)
            responses = operation["responses"]
            for status in sorted(statuses):
                # FastAPI's own 422 describes its default body; ours is a problem.
                if str(status) not in responses or status == 422:
                    responses[str(status)] = _problem_response(status)
    return schema


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
    if isinstance(exc, errors.AuthError):
        await record_auth_failure(request, exc)
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


async def _database_refusal(request: Request, exc: Exception) -> JSONResponse:
    """A value the input bounds let through but PostgreSQL refused: 422/409, never a 500.

    The schemas' bounds (chairside/bounds.py) come first; this is the backstop for a path
    they miss: a CHECK constraint (migration 0004) or a value PostgreSQL cannot store.
    """
    assert isinstance(exc, DBAPIError)
    cause = exc.orig
    if isinstance(cause, pg_errors.CheckViolation):
        constraint = getattr(cause.diag, "constraint_name", None) or "a check"
        return problem_response(
            409,
            f"the change breaks the database's rule {constraint} (a bound on a stored value)",
            extra={"details": {"constraint": constraint}},
        )
    if isinstance(cause, pg_errors.DataError):
        return problem_response(
            422,
            "a value is out of the range the database can store: "
            f"{_safe_input(type(cause).__name__)}",
        )
    raise exc


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if wants_page(request.url.path, request.headers.get("accept", "")):  # a mistyped address
        message = "There is no page at this address." if exc.status_code == 404 else "Sorry."
        return error_page(exc.status_code, message, headers=exc.headers)
    return problem_response(exc.status_code, str(exc.detail), headers=exc.headers)


def _safe_input(value: object) -> object:
    """Echo simple bad values back; never echo large or nested bodies (or passwords)."""
    if isinstance(value, str):
        # A lone surrogate cannot be encoded as UTF-8: echo it escaped, not as a 500.
        clean = value.encode("utf-8", "backslashreplace").decode("utf-8")
        return clean if len(clean) <= 200 else clean[:200] + "…"
    if isinstance(value, float):
        return value if math.isfinite(value) else None  # NaN and Infinity are not JSON
    if isinstance(value, int | bool) or value is None:
        return value
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
    app.add_exception_handler(IntegrityError, _database_refusal)
    app.add_exception_handler(DataError, _database_refusal)
    plain_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = describe_problems(plain_openapi())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
