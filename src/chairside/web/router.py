"""``/ops``: the ops console page, its static files, its login and its JSON summary.

The page is a static shell; everything it shows comes from ``GET /ops/api/summary``,
for admins only, and served while the database is down (``web/auth.py``). Every
``/ops`` path answers in maintenance and read-only mode (see ``api/middleware.py``),
and so does the console's login, ``POST /ops/api/login``: the
same endpoint as ``/api/v1/auth/login`` (same rate limit, same tokens), reachable while
the rest of the API turns clients away, which is when an operator needs the page.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, Response

from chairside.accounts import schemas as account_schemas
from chairside.accounts.router import login
from chairside.api.deps import ContextDep
from chairside.errors import NotFoundError
from chairside.web.auth import ConsoleOperator
from chairside.web.summary import BackupStatusCache, console_summary

router = APIRouter(prefix="/ops", tags=["ops console"])

# Only our own files, from our own origin: event summaries are operator-written text, and
# this policy stops a script smuggled into one even if some rendering slipped.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "img-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
STATIC_TYPES = {
    "console.js": "text/javascript; charset=utf-8",
    "console.css": "text/css; charset=utf-8",
    "favicon.svg": "image/svg+xml",
}


@cache
def _asset(folder: str, name: str) -> bytes:
    return resources.files("chairside.web").joinpath(folder, name).read_bytes()


async def backup_cache(request: Request) -> BackupStatusCache:
    """The app's backup status cache, made on first use."""
    cached: BackupStatusCache | None = getattr(request.app.state, "ops_backup_cache", None)
    if cached is None:
        cached = BackupStatusCache()
        request.app.state.ops_backup_cache = cached
    return cached


BackupCacheDep = Annotated[BackupStatusCache, Depends(backup_cache)]


@router.get("", response_class=HTMLResponse, include_in_schema=False)
async def console_page() -> Response:
    """The console page: a shell that logs in and reads the summary."""
    return HTMLResponse(_asset("templates", "console.html"), headers=SECURITY_HEADERS)


@router.get("/static/{name}", include_in_schema=False)
async def console_static(name: str) -> Response:
    """The page's script and stylesheet (a fixed list: no path reaches anything else)."""
    media_type = STATIC_TYPES.get(name)
    if media_type is None:
        raise NotFoundError(f"no static file {name!r}; there are: {', '.join(STATIC_TYPES)}")
    return Response(_asset("static", name), media_type=media_type, headers=SECURITY_HEADERS)


router.add_api_route(
    "/api/login",
    login,
    methods=["POST"],
    response_model=account_schemas.TokensOut,
    summary="Log in to the ops console (works in maintenance mode)",
)


@router.get("/api/summary")
async def summary(
    operator: ConsoleOperator, context: ContextDep, backups: BackupCacheDep
) -> Response:
    """Health, modes, backups, open incidents, deployments and recent ops events (admins).

    Served while the database is down too (web/auth.py says how the caller is checked).
    """
    body = await run_in_threadpool(
        console_summary,
        context.settings,
        probe=context.monitoring.probe,
        modes=context.modes,
        backups=backups,
    )
    database = context.database.state()
    body["operator"] = operator.to_dict()
    body["database"] = {"reachable": database.reachable, "error": database.error}
    return JSONResponse(body, headers={"Cache-Control": "no-store"})
