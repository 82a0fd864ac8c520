"""Errors as HTML pages for people (the API's are problem+json, api/problems.py).

The statuses are the API's (``problems.status_for``); the page says what happened and
what to do. Also used by the middleware for maintenance, read-only and overload refusals
of web pages (a friendly 503 with ``Retry-After``, never JSON).
"""

from __future__ import annotations

from collections.abc import Mapping

from fastapi.responses import HTMLResponse

from chairside.webapp.headers import PRIVATE, SECURITY_HEADERS
from chairside.webapp.render import environment

TITLES = {
    400: "Something is wrong with the request",
    401: "Please log in",
    403: "Not allowed",
    404: "Not found",
    405: "Not allowed",
    409: "That did not work",
    422: "Please check what you entered",
    429: "Too many attempts",
    500: "Something went wrong on our side",
    503: "Back soon",
}


def error_page(
    status: int,
    message: str,
    *,
    title: str | None = None,
    headers: Mapping[str, str] | None = None,
    retry_after: int | None = None,
) -> HTMLResponse:
    """A page for a failed request (no session needed: middleware renders these too)."""
    body = (
        environment()
        .get_template("error.html")
        .render(
            person=None,
            csrf_token="",
            path="",
            status=status,
            title=title or TITLES.get(status, "Something went wrong"),
            message=message,
            retry_after=retry_after,
        )
    )
    all_headers = {**SECURITY_HEADERS, **PRIVATE, **dict(headers or {})}
    if retry_after is not None:
        all_headers["Retry-After"] = str(retry_after)
    return HTMLResponse(body, status_code=status, headers=all_headers)
